"""The authorization matrix, generated from the URL configuration itself.

Every route of the site (pages, the /v1 API, websockets, the admin) must have an entry in
tests/security/routes.py saying what owners, organization members, outsiders and anonymous
visitors get; every request of the matrix is made as each of them. Refused requests must
leave the database exactly as it was, and pages and API answers given to outsiders must not
contain anything private.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from config.asgi import application, websocket_urlpatterns
from tests.security.conftest import HUSH, ROLES, World, client_as, db_state, diff_states
from tests.security.routes import ADMIN_LOGIN, LOGIN, MATRIX, OPEN, Req

REFUSED = {401, 403, 404, 405, LOGIN, ADMIN_LOGIN}


def _walk(patterns, prefix: str = "", namespace: str = ""):
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            if pattern.app_name == "admin":
                yield "admin/"  # the admin site is one entry: staff only, all of it
                continue
            inner = namespace
            if pattern.namespace:
                inner = f"{namespace}:{pattern.namespace}" if namespace else pattern.namespace
            yield from _walk(pattern.url_patterns, route, inner)
        elif isinstance(pattern, URLPattern):
            if pattern.name:
                yield f"{namespace}:{pattern.name}" if namespace else pattern.name
            else:
                yield route


def enumerate_routes() -> set[str]:
    """Every HTTP route (by URL name, or pattern when it has none) and websocket route."""
    routes = set(_walk(get_resolver().url_patterns))
    routes |= {f"ws:{route}" for route in _walk(websocket_urlpatterns)}
    return routes


def test_every_route_has_a_matrix_entry():
    routes = enumerate_routes()
    missing = sorted(routes - set(MATRIX))
    stale = sorted(set(MATRIX) - routes)
    assert not missing, (
        "These routes have no entry in the authorization matrix (tests/security/routes.py); "
        "add one saying what owners, members, outsiders and anonymous visitors get:\n  "
        + "\n  ".join(missing)
    )
    assert not stale, "The matrix has entries for routes that no longer exist:\n  " + "\n  ".join(
        stale
    )
    assert all(MATRIX.values()), "Every matrix entry needs at least one request"


def _cases(websocket: bool):
    for key, requests in MATRIX.items():
        for request in requests:
            if request.websocket != websocket:
                continue
            for role in ROLES:
                label = f"{request.method} {request.label}".strip()
                yield pytest.param(key, request, role, id=f"{key}|{label}|{role}")


def send(world: World, request: Req, role: str):
    path = request.path(world)
    data = request.data(world) if callable(request.data) else request.data
    headers = {}
    if path.startswith("/v1/"):
        client = Client()  # the API authenticates by token only
        token = world.api_token(role)
        if token:
            headers["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    else:
        client = client_as(world, role)
    if request.json:
        return client.generic(
            request.method,
            path,
            json.dumps(data),
            content_type="application/json",
            **headers,
        )
    if request.content_type:
        return client.generic(request.method, path, data, request.content_type, **headers)
    if request.method == "GET":
        return client.get(path, **headers)
    if request.method == "POST":
        return client.post(path, data or {}, **headers)
    return client.generic(request.method, path, **headers)


def body_of(response) -> str:
    if response.streaming and getattr(response, "is_async", False):

        async def collect() -> bytes:
            return b"".join([chunk async for chunk in response.streaming_content])

        content = asyncio.run(collect())
    elif response.streaming:
        content = b"".join(response.streaming_content)
    else:
        content = response.content
    return content.decode(errors="replace")


def check_status(response, expected, path: str, problem: bool = True) -> None:
    shown = f"{response.status_code} {response.get('Location', '')}".strip()
    if expected == LOGIN:
        location = response.get("Location", "")
        assert response.status_code == 302 and location.startswith(
            reverse(settings.LOGIN_URL) + "?next="
        ), f"expected a redirect to the login page, got {shown}"
    elif expected == ADMIN_LOGIN:
        location = response.get("Location", "")
        assert response.status_code == 302 and location.startswith("/admin/login/?next="), (
            f"expected a redirect to the admin's login page, got {shown}"
        )
    else:
        assert response.status_code == expected, f"expected {expected}, got {shown}"
    if problem and path.startswith("/v1/") and response.status_code >= 400:
        assert response["Content-Type"].startswith("application/problem+json"), response[
            "Content-Type"
        ]


@pytest.mark.parametrize(("key", "request_", "role"), list(_cases(websocket=False)))
def test_matrix(world, key, request_: Req, role):
    expected = request_.expect[ROLES.index(role)]
    before = db_state()
    response = send(world, request_, role)
    body = body_of(response)
    check_status(response, expected, request_.path(world), request_.problem)
    if role not in request_.changes_ok_for and (
        expected in REFUSED
        or role in request_.unchanged_for
        or request_.method in ("GET", "QUERY")
        or (isinstance(expected, int) and expected >= 400)
    ):
        changes = diff_states(before, db_state())
        assert not changes, "The database changed:\n" + "\n".join(changes)
    if role in request_.no_hush_for and 200 <= response.status_code < 300:
        assert HUSH not in body.lower(), f"{role} sees something private:\n{body[:3000]}"
    if request_.owner_secret is not None and role != "owner":
        assert request_.owner_secret(world) not in body


def ws_headers(world: World, role: str) -> list[tuple[bytes, bytes]]:
    headers = [(b"origin", b"http://testserver")]
    if role != "anonymous":
        client = client_as(world, role)
        cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
        headers.append((b"cookie", f"{settings.SESSION_COOKIE_NAME}={cookie}".encode()))
    return headers


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("key", "request_", "role"), list(_cases(websocket=True)))
def test_websocket_matrix(world, key, request_: Req, role):
    expected = request_.expect[ROLES.index(role)]
    path = request_.path(world)
    headers = ws_headers(world, role)

    async def scenario():
        communicator = WebsocketCommunicator(application, path, headers=headers)
        connected, code = await communicator.connect(timeout=10)
        if connected:
            await communicator.disconnect()
        return connected, code

    connected, code = asyncio.run(scenario())
    if expected == OPEN:
        assert connected, f"expected the socket to open, it closed with {code}"
    else:
        assert not connected, "expected the socket to be refused, it opened"
        assert code == expected


def test_a_foreign_origin_cannot_open_a_socket(world):
    """Cross-site websocket hijacking: a page on another site cannot use the session."""
    headers = [(b"origin", b"https://evil.example"), *ws_headers(world, "owner")[1:]]

    async def scenario():
        communicator = WebsocketCommunicator(
            application, f"/ws/predictions/{world.prediction.id}/", headers=headers
        )
        connected, _code = await communicator.connect(timeout=10)
        return connected

    assert not asyncio.run(scenario())
