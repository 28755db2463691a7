"""URLs in file inputs and webhooks that the outbound guard refuses, or that are not URLs at
all, end as a clear input error (file inputs) or a 422 naming the field (webhooks), never as
an internal error. Nothing here resolves names or sends a packet anywhere: the guard decides
before connecting, and the tests only look at its decision."""

from __future__ import annotations

import json

import pytest

from apps.core.outbound import OutboundRefused, check_url
from apps.files.services import own_file
from apps.predictions.models import Prediction
from apps.runtime.inputs import InputFileError, fetch
from tests.catalog.factories import add_version, cog_schema, make_model

REFUSED_URLS = [
    "http://2130706433/",
    "http://0x7f.1/",
    "http://0x7f000001:8000/x",
    "http://017700000001/",
    "http://[::ffff:169.254.169.254]/",
    "http://[::ffff:a9fe:a9fe]/latest",
    "http://169.254.169.254/latest/meta-data/",
    "http://[fe80::1%25eth0]/",  # link-local with a zone
    "http://0/",
    "http://10.1.2.3/",
]
NOT_URLS = [
    "http://[::1/",  # unclosed IPv6 literal
    "http://1.2.3.4:99999/",  # port out of range
    "http://1.2.3.4:-1/",
    "http://1.2.3.4:http/",
    "http://a\x00b/",  # NUL in the host
    "http://" + "a" * 300 + "/",  # a label past 63 characters
    "http:///nohost",
    "http://[v1.fe80::a+en1]/",  # an IPvFuture literal
    "javascript:alert(1)",
    "ftp://1.2.3.4/",
]


@pytest.fixture
def production(settings):
    settings.OUTBOUND_ALLOWLIST = []
    return settings


@pytest.mark.django_db
@pytest.mark.parametrize("url", REFUSED_URLS + NOT_URLS)
def test_a_file_input_the_guard_refuses_is_an_input_error(production, tmp_path, url):
    with pytest.raises(InputFileError, match="cannot be fetched: "):
        fetch(url, tmp_path, max_bytes=1 << 20, timeout=1, own_file=own_file)


@pytest.mark.parametrize("url", NOT_URLS)
def test_the_guard_refuses_what_is_not_a_url_with_its_own_error(production, url):
    with pytest.raises(OutboundRefused):
        check_url(url)


# Webhooks, judged when the prediction is created

SCHEMA = cog_schema({"prompt": {"type": "string", "title": "Prompt", "x-order": 0}})
REFUSED_WEBHOOKS = [
    "http://127.0.0.1:8000/hook",
    "http://2130706433/hook",
    "http://0x7f.1/hook",
    "http://[::ffff:169.254.169.254]/hook",
    "https://169.254.169.254/latest",
    "http://10.0.0.7/hook",
    "http://[fd00::1]/hook",
    "http://[::1/hook",
    "http://1.2.3.4:99999/hook",
    "http://a\x00b/hook",
]


@pytest.fixture
def version(cast):
    model = make_model(cast, "public", owner=cast.alice.user.account, name="painter")
    return add_version(model, "c" * 64, SCHEMA)


def create(client, person, version, webhook):
    body = {"version": version.digest, "input": {"prompt": "a"}, "webhook": webhook}
    return client.post(
        "/v1/predictions",
        json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {person.token}",
    )


@pytest.mark.parametrize("webhook", REFUSED_WEBHOOKS)
def test_a_webhook_the_guard_refuses_is_a_422_naming_the_field(
    production, client, cast, version, webhook
):
    response = create(client, cast.alice, version, webhook)
    assert response.status_code == 422, response.content
    assert response["Content-Type"] == "application/problem+json"
    [problem] = response.json()["invalid_fields"]
    assert problem["field"] == "webhook"
    assert "cannot be delivered" in problem["description"]
    assert not Prediction.objects.exists()


def test_a_webhook_name_is_not_looked_up_at_create(production, client, cast, version):
    # It may not resolve (or resolve elsewhere later): delivery checks it again.
    response = create(client, cast.alice, version, "https://hooks.example.invalid/x")
    assert response.status_code == 201, response.content


def test_an_allowlisted_private_webhook_is_accepted(production, client, cast, version):
    production.OUTBOUND_ALLOWLIST = ["127.0.0.0/8"]
    response = create(client, cast.alice, version, "http://127.0.0.1:9/hook")
    assert response.status_code == 201, response.content
    assert Prediction.objects.get().webhook == "http://127.0.0.1:9/hook"
