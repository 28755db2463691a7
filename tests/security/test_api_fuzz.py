"""Property-based fuzzing of our own OpenAPI document with schemathesis, in process.

Every operation of /v1/openapi.json gets generated requests (valid and invalid ones) with a
valid token; whatever they contain, the API must never answer 5xx, and every 4xx must be an
application/problem+json with a title, a detail and the status. Derandomized, so CI runs the
same examples every time.
"""

from __future__ import annotations

import ipaddress
import json
import socket
from types import SimpleNamespace

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, settings

import apps.core.outbound

MAX_EXAMPLES = 100


def _numeric_only(host, port, *args, **kwargs):
    """Offline and deterministic: IP literals resolve, names do not (no DNS in the fuzzer)."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise socket.gaierror(socket.EAI_NONAME, "no DNS while fuzzing") from None
    return socket.getaddrinfo(host, port, *args, flags=socket.AI_NUMERICHOST, **kwargs)


@pytest.fixture(autouse=True)
def in_this_transaction(monkeypatch):
    """Requests go straight into Django's WSGI handler, in this thread and in this test's
    transaction: like Django's test client, keep the connection open between requests. And
    no DNS (offline, deterministic): cover image URLs with names are refused at once."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    monkeypatch.setattr(
        apps.core.outbound,
        "socket",
        SimpleNamespace(
            getaddrinfo=_numeric_only, gaierror=socket.gaierror, IPPROTO_TCP=socket.IPPROTO_TCP
        ),
    )
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


# Loaded when the module is collected (schemathesis' lazy fixture loader does not work with
# pytest 9): the document needs no database.
schema = schemathesis.openapi.from_wsgi("/v1/openapi.json", WSGIHandler())


DECLARED = {
    path: {method.upper() for method in operations}
    for path, operations in schema.raw_schema["paths"].items()
}


def check_answer(case, response) -> None:
    status = response.status_code
    where = f"{case.method} {case.formatted_path}: {status}"
    assert status < 500, f"{where}\n{response.text[:2000]}\n{case.as_curl_command()}"
    if status == 405 and case.method.upper() not in DECLARED[case.operation.path]:
        # A method the path does not have: django-ninja answers a plain 405 itself, before
        # any of our code runs (reported; it does say which methods are allowed).
        assert response.headers.get("allow"), where
        return
    if 400 <= status < 500:
        content_type = response.headers.get("content-type", [""])
        content_type = content_type[0] if isinstance(content_type, list) else content_type
        assert content_type.startswith("application/problem+json"), (
            f"{where} is {content_type}\n{case.as_curl_command()}"
        )
        body = json.loads(response.content)
        assert body.get("status") == status, f"{where}: {body}"
        assert isinstance(body.get("title"), str) and body["title"], f"{where}: {body}"
        assert isinstance(body.get("detail"), str) and body["detail"], f"{where}: {body}"


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_the_api_never_fails_and_every_error_is_a_problem(case, world):
    auth = {"Authorization": f"Bearer {world.cast.acme_token}"}
    check_answer(case, case.call(headers=auth))
    # Then the same request on things that exist, so bodies and queries reach deeper code
    # than a 404 (random owners and ids never exist).
    real = {
        "owner": "acme",
        "name": world.public.name,
        "version_id": world.public_version.digest,
        "prediction_id": world.shared.id,
        "file_id": world.file.id,
        "slug": world.collection.slug,
    }
    if case.path_parameters and set(case.path_parameters) <= set(real):
        case.path_parameters = {name: real[name] for name in case.path_parameters}
        check_answer(case, case.call(headers=auth))
