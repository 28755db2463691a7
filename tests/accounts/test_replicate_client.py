"""The official `replicate` Python client, unchanged, against a live server of ours."""

from __future__ import annotations

import pytest
import replicate
from replicate.exceptions import ReplicateError


def test_the_official_client_reads_the_current_account(live_server, cast):
    client = replicate.Client(api_token=cast.alice.token, base_url=live_server.url)
    account = client.accounts.current()
    assert account.type == "user"
    assert account.username == "alice"
    assert account.name == "alice"


def test_the_official_client_reads_an_organization_account(live_server, cast):
    client = replicate.Client(api_token=cast.acme_token, base_url=live_server.url)
    account = client.accounts.current()
    assert (account.type, account.username, account.name) == ("organization", "acme", "Acme Corp")


def test_the_official_client_reports_a_bad_token(live_server, cast):
    client = replicate.Client(api_token="r8_" + "0" * 37, base_url=live_server.url)
    with pytest.raises(ReplicateError) as raised:
        client.accounts.current()
    assert raised.value.status == 401
    assert raised.value.title == "Unauthenticated"
    assert raised.value.detail == "You did not pass a valid authentication token"
