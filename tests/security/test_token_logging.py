"""API tokens (and passwords) never reach the logs: not Django's request log, not the SQL log,
not our own loggers, not daphne's access log; also when a request fails."""

from __future__ import annotations

import logging
import re
import secrets
import string
import subprocess
import sys
import time

import httpx
import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher, make_password
from django.db import connection
from django.test import Client

from apps.accounts.models import ApiToken, User
from apps.accounts.services import token_create
from apps.core.net import free_port
from tests.e2e.platform import process_env
from tests.security.conftest import World, client_as


def random_token() -> str:
    return "r8_" + "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(37))


# DEBUG records of django.template carry whole template contexts (a token shown once, a
# revealed webhook secret): settings.LOGGING keeps that logger at INFO whatever LOG_LEVEL says,
# and test_template_contexts_are_never_logged holds it to that.
PINNED = {"django.template"}


@pytest.fixture
def everything_logged(caplog):
    """Every logger at DEBUG (but PINNED), and SQL logged with its parameters."""
    for name in ["", *logging.root.manager.loggerDict]:
        if name not in PINNED:
            caplog.set_level(logging.DEBUG, logger=name)
    connection.force_debug_cursor = True
    yield caplog
    connection.force_debug_cursor = False


def assert_not_logged(caplog, secrets_: list[str]) -> None:
    assert caplog.records, "nothing was logged: the capture does not work"
    for record in caplog.records:
        text = " ".join(
            [record.getMessage(), repr(record.args), record.exc_text or "", repr(record.__dict__)]
        )
        for secret in secrets_:
            assert secret not in text, f"{record.name} logged a secret: {text[:500]}"
    for secret in secrets_:
        assert secret not in caplog.text


def api_calls(world: World, tokens: list[str]) -> list[int]:
    client = Client()
    statuses = []
    for token in tokens:
        for scheme in ("Bearer", "Token", "bearer", "Basic"):
            auth = {"HTTP_AUTHORIZATION": f"{scheme} {token}"}
            statuses += [
                client.get("/v1/account", **auth).status_code,
                client.get(f"/v1/models/{world.private.full_name}", **auth).status_code,
                client.get("/v1/models/nobody/nothing", **auth).status_code,
                client.post(
                    "/v1/predictions", "{not json", content_type="application/json", **auth
                ).status_code,
                client.post(
                    "/v1/predictions",
                    {"version": "acme/hush-model", "input": {"prompt": "x"}},
                    content_type="application/json",
                    **auth,
                ).status_code,
                client.get("/v1/nothing-here", **auth).status_code,
            ]
    return statuses


def test_tokens_never_appear_in_the_logs(world, everything_logged, settings):
    revoked, revoked_raw = token_create(
        account=world.cast.charlie.user.account, name="old", created_by=None
    )
    revoked.revoke()
    tokens = [
        world.cast.acme_token,
        world.cast.bob.token,
        world.cast.charlie.token,
        revoked_raw,
        random_token(),  # well formed, unknown
        world.cast.alice.token[:-1] + "!",  # almost alice's
    ]
    statuses = api_calls(world, tokens)
    assert {200, 201, 400, 401, 404, 422} <= set(statuses)
    assert 500 not in statuses

    # Rate limited: the 429 path.
    settings.RATE_LIMIT_OTHER_PER_MINUTE = 1
    limited = [Client().get("/v1/account", **world.cast.bob.auth()).status_code for _ in range(3)]
    assert 429 in limited

    # Tokens made and shown on the account page, and a login with a password.
    alice = client_as(world, "owner")
    created = alice.post("/account/tokens/", {"name": "laptop"})
    new_token = created.context["tokens_context"]["new_token"]
    assert new_token and new_token in created.content.decode()
    Client().post("/login/", {"username": "alice", "password": "correct horse battery staple"})
    Client().post("/login/", {"username": "alice", "password": "wrong horse battery staple"})

    assert_not_logged(
        everything_logged,
        [*tokens, new_token, "correct horse battery staple", "wrong horse battery staple"],
    )
    logged = everything_logged.text
    assert "Unauthorized: /v1/account" in logged or "/v1/account" in logged  # the capture works
    assert "SELECT" in logged  # and includes the SQL


def test_template_contexts_are_never_logged(settings, caplog):
    """Even with LOG_LEVEL=DEBUG and Django's own loggers turned up to DEBUG."""
    assert settings.LOGGING["loggers"]["django.template"]["level"] == "INFO"
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="django")
    assert not logging.getLogger("django.template").isEnabledFor(logging.DEBUG)


def test_an_unexpected_error_logs_no_token(world, everything_logged, monkeypatch):
    """A 500 logs its traceback: still without the token that came with the request."""
    import apps.accounts.api

    def broken(*args, **kwargs):
        raise RuntimeError("something broke")

    monkeypatch.setattr(apps.accounts.api, "absolute_url", broken)
    response = Client().get("/v1/account", **world.cast.alice.auth())
    assert response.status_code == 500
    assert response["Content-Type"].startswith("application/problem+json")
    assert world.cast.alice.token not in response.content.decode()
    assert "something broke" in everything_logged.text  # the traceback was logged
    assert_not_logged(everything_logged, [world.cast.alice.token])


@pytest.mark.django_db(transaction=True)
def test_daphne_logs_no_token(world, tmp_path):
    """The real web server, with its access log and every logger at DEBUG."""
    # The server hashes passwords as production does, not with the tests' fast hasher.
    User.objects.filter(pk=world.cast.alice.user.pk).update(
        password=make_password(world.cast.alice.password, hasher=PBKDF2PasswordHasher())
    )
    port = free_port()
    log_path = tmp_path / "daphne.log"
    env = process_env(LOG_LEVEL="DEBUG")
    with open(log_path, "wb") as log:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "daphne",
                "-v",
                "2",
                "--access-log",
                "-",
                "-b",
                "127.0.0.1",
                "-p",
                str(port),
                "config.asgi:application",
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    tokens = [world.cast.acme_token, world.cast.bob.token, random_token()]
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(base + "/healthz", timeout=2)
                break
            except httpx.TransportError:
                assert server.poll() is None, log_path.read_text()
                assert time.monotonic() < deadline, "daphne did not start"
                time.sleep(0.2)
        statuses = []
        with httpx.Client(base_url=base, timeout=10) as client:
            for token in tokens:
                headers = {"Authorization": f"Bearer {token}"}
                statuses += [
                    client.get("/v1/account", headers=headers).status_code,
                    client.get("/v1/models/acme/hush-model", headers=headers).status_code,
                    client.get("/v1/models/nobody/nothing", headers=headers).status_code,
                    client.post("/v1/predictions", content=b"{", headers=headers).status_code,
                ]
            tokens.append(new_token_on_the_account_page(client))
        assert {200, 400, 401, 404} <= set(statuses), statuses
    finally:
        server.terminate()
        server.wait(timeout=20)
    output = log_path.read_text()
    assert '"GET /v1/account' in output, output[-2000:]  # the access log is there
    for token in tokens:
        assert token not in output


def new_token_on_the_account_page(client: httpx.Client) -> str:
    """Log in and make a token as a browser would; the token the page shows once."""

    def csrf(path: str) -> str:
        html = client.get(path).text
        return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)

    response = client.post(
        "/login/",
        data={
            "username": "alice",
            "password": "correct horse battery staple",
            "csrfmiddlewaretoken": csrf("/login/"),
        },
    )
    assert response.status_code == 302, response.text[:500]
    response = client.post(
        "/account/tokens/", data={"name": "laptop", "csrfmiddlewaretoken": csrf("/account/")}
    )
    assert response.status_code == 200, response.text[:500]
    return re.search(r'value="(r8_[A-Za-z0-9]{37})"', response.text).group(1)


def test_the_token_hash_is_never_the_token(world):
    """Stored tokens are a prefix and a keyed hash: the database cannot leak them either."""
    for token, raw in [(world.acme_token, world.cast.acme_token)]:
        stored = ApiToken.objects.filter(pk=token.pk).values().get()
        assert raw not in repr(stored)
        assert stored["prefix"] == raw[:8]
