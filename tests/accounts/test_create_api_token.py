from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from apps.accounts.models import User


def run(*args) -> str:
    out = StringIO()
    call_command("create_api_token", *args, stdout=out)
    return out.getvalue().strip()


def test_it_prints_a_working_token_for_a_user(client, cast):
    token = run("--user", "bob")
    assert token.startswith("r8_") and len(token) == 40
    response = client.get("/v1/account", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.json()["username"] == "bob"


def test_it_creates_the_user_when_asked(client, db):
    token = run("--user", "ci-bot", "--create", "--name", "pipeline")
    user = User.objects.get(username="ci-bot")
    assert not user.has_usable_password()
    assert user.account.tokens.get().name == "pipeline"
    assert client.get("/v1/account", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 200


def test_an_unknown_user_without_create_is_an_error(db):
    with pytest.raises(CommandError, match="No user called"):
        run("--user", "ghost")


def test_a_reserved_name_cannot_be_created(db):
    with pytest.raises(CommandError, match="reserved"):
        run("--user", "admin", "--create")


def test_an_owner_gets_an_organization_token(client, cast):
    token = run("--user", "alice", "--org", "acme")
    assert client.get("/v1/account", HTTP_AUTHORIZATION=f"Bearer {token}").json()["type"] == (
        "organization"
    )


def test_a_member_or_outsider_gets_no_organization_token(cast):
    with pytest.raises(CommandError, match="not an owner"):
        run("--user", "bob", "--org", "acme")
    with pytest.raises(CommandError, match="not an owner"):
        run("--user", "charlie", "--org", "acme")
