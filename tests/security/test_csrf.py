"""CSRF: every state-changing form of the site refuses a post without its token, and the API
(token-authenticated, so exempt by design) cannot be called with a session cookie alone."""

from __future__ import annotations

import json

import pytest
from django.conf import settings
from django.test import Client

from tests.security.conftest import ROLES, World, db_state, diff_states
from tests.security.routes import ADMIN_LOGIN, LOGIN, MATRIX, Req

FORM_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def _allowed_role(request: Req) -> str:
    """The first role the matrix lets through: the post must fail for CSRF alone."""
    for role, expected in zip(ROLES, request.expect, strict=True):
        if role in request.unchanged_for:
            continue  # let through, but nothing happens (signing up while logged in)
        if expected not in (LOGIN, ADMIN_LOGIN) and expected < 400:
            return role
    return "owner"  # refused to everyone anyway (the admin): CSRF is checked first


def is_api(key: str) -> bool:
    """API routes (token-authenticated): /v1/… by name, pattern or the stream capability."""
    return key.startswith(("v1:", "^v1")) or key == "prediction_stream"


def form_posts():
    for key, requests in MATRIX.items():
        if is_api(key):
            continue
        for request in requests:
            if request.websocket or request.method not in FORM_METHODS:
                continue
            role = _allowed_role(request)
            label = f"{request.method} {request.label}".strip()
            yield pytest.param(request, role, id=f"{key}|{label}|{role}")


def csrf_client(world: World, role: str) -> Client:
    client = Client(enforce_csrf_checks=True)
    if role != "anonymous":
        client.force_login(world.person(role).user)
    return client


def _post(client: Client, request: Req, world: World, **headers):
    data = request.data(world) if callable(request.data) else request.data
    path = request.path(world)
    if request.method == "POST":
        return client.post(path, data or {}, **headers)
    return client.generic(request.method, path, **headers)


@pytest.mark.parametrize(("request_", "role"), list(form_posts()))
def test_every_form_post_needs_its_csrf_token(world, request_: Req, role):
    before = db_state()
    response = _post(csrf_client(world, role), request_, world)
    assert response.status_code == 403, (response.status_code, response.get("Location"))
    assert "This form has expired" in response.content.decode()
    changes = diff_states(before, db_state())
    assert not changes, "The database changed:\n" + "\n".join(changes)


def test_a_form_post_with_its_token_goes_through(world):
    """The control: the same kind of post with the token is accepted."""
    client = csrf_client(world, "owner")
    client.get("/account/")
    token = client.cookies[settings.CSRF_COOKIE_NAME].value
    response = client.post("/account/tokens/", {"name": "new"}, HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 200
    response = client.post("/account/tokens/", {"name": "new", "csrfmiddlewaretoken": token})
    assert response.status_code == 200


def test_a_token_from_another_session_is_refused(world):
    bob = csrf_client(world, "member")
    bob.get("/account/")
    bobs_token = bob.cookies[settings.CSRF_COOKIE_NAME].value
    alice = csrf_client(world, "owner")
    before = db_state()
    response = alice.post("/account/tokens/", {"name": "new"}, HTTP_X_CSRFTOKEN=bobs_token)
    assert response.status_code == 403
    assert not diff_states(before, db_state())


def test_the_form_post_list_is_not_empty():
    assert len(list(form_posts())) >= 30


def api_requests():
    for key, requests in MATRIX.items():
        if not is_api(key):
            continue
        for request in requests:
            if request.expect[ROLES.index("anonymous")] == 401:
                label = f"{request.method} {request.label}".strip()
                yield pytest.param(request, id=f"{key}|{label}")


@pytest.mark.parametrize("request_", list(api_requests()))
def test_a_session_cookie_alone_cannot_call_the_api(world, request_: Req):
    """The API knows tokens only: a logged-in browser (whose cookies a cross-site request
    would carry) gets 401, so the API's exemption from CSRF checks exposes nothing."""
    client = csrf_client(world, "owner")
    client.get("/account/")  # a CSRF cookie and token too, as a browser would have
    token = client.cookies[settings.CSRF_COOKIE_NAME].value
    data = request_.data(world) if callable(request_.data) else request_.data
    path = request_.path(world)
    before = db_state()
    if request_.json:
        response = client.generic(
            request_.method,
            path,
            json.dumps(data),
            content_type="application/json",
            HTTP_X_CSRFTOKEN=token,
        )
    elif request_.content_type:
        response = client.generic(
            request_.method, path, data, request_.content_type, HTTP_X_CSRFTOKEN=token
        )
    elif request_.method == "POST":
        response = client.post(path, data or {}, HTTP_X_CSRFTOKEN=token)
    else:
        response = client.generic(request_.method, path, HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 401, response.content[:300]
    assert response["Content-Type"].startswith("application/problem+json")
    assert not diff_states(before, db_state())
