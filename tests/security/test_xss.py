"""Stored XSS: what users and model authors write is shown inert on every page and in the
prediction websocket's HTML fragments.

Script payloads go into everything people can write (model description, README, links,
version schema titles and descriptions, prediction input, output, logs and error,
organization and user display names, token and collection names) and every page that shows
them must contain them only escaped.
"""

from __future__ import annotations

import asyncio
import json
import re
from html.parser import HTMLParser

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from apps.accounts.models import ApiToken, User
from apps.catalog.models import Model
from apps.predictions import events
from apps.predictions.models import Prediction
from config.asgi import application
from tests.catalog.factories import STREAMING_OUTPUT, schema_with_output
from tests.security.conftest import World, client_as, make_version
from tests.security.test_authorization import ws_headers

SCRIPT = "<script>alert(1)</script>"
BREAKOUT = '"><img src=x onerror=alert(1)>'
JS_LINK = "javascript:alert(1)"
PAYLOAD = f"{SCRIPT}{BREAKOUT}{JS_LINK}"
ESCAPED_SCRIPT = "&lt;script&gt;alert(1)&lt;/script&gt;"
README = f"""# Title {SCRIPT}

{BREAKOUT}

<img src=x onerror=alert(1)>

[click me]({JS_LINK}) and [again](JaVaScRiPt:alert(1)) and <{JS_LINK}>

![image]({JS_LINK})

<a href="{JS_LINK}">raw link</a>
"""

URL_ATTRIBUTES = {"href", "src", "action", "formaction", "data", "poster", "background", "srcset"}
LIVE_SCHEMES = ("javascript:", "vbscript:", "data:text/html")


class Elements(HTMLParser):
    """Every element's attributes and every script's text, as a browser would see them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            value = (value or "").strip()
            if name.startswith("on") and "alert" in value:
                self.problems.append(f"<{tag} {name}={value!r}>: a payload as an event handler")
            if name in URL_ATTRIBUTES and re.sub(r"\s", "", value).lower().startswith(LIVE_SCHEMES):
                self.problems.append(f"<{tag} {name}={value!r}>: a script URL")
        if tag == "img" and dict(attrs).get("src") == "x":
            self.problems.append("<img src=x>: the payload became an element")
        self._in_script = tag == "script"

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        if self._in_script and "alert" in data:
            self.problems.append(f"<script>{data[:80]}: the payload became a script")


def assert_inert(html: str, where: str) -> None:
    lowered = html.lower()
    assert "<script>alert(1)" not in lowered, f"{where}: a live <script> payload"
    assert "<img src=x" not in lowered, f"{where}: a live <img onerror> payload"
    assert BREAKOUT not in html, f"{where}: an attribute breakout"
    parser = Elements()
    parser.feed(html)
    parser.close()
    assert not parser.problems, f"{where}: " + "; ".join(parser.problems)


def payload_schema(output: dict | None = None) -> dict:
    schema = schema_with_output(output or {"type": "string", "title": "Output"})
    schema = json.loads(json.dumps(schema))
    inputs = schema["components"]["schemas"]["Input"]["properties"]
    inputs["prompt"]["title"] = "Prompt " + PAYLOAD
    inputs["prompt"]["description"] = "Describe " + PAYLOAD
    inputs["prompt"]["default"] = PAYLOAD
    schema["components"]["schemas"]["style"]["enum"] = ["a", PAYLOAD]
    return schema


@pytest.fixture
def poisoned(world: World) -> World:
    """The world with a payload in everything people can write."""
    Model.objects.filter(pk=world.public.pk).update(
        description="open widget " + PAYLOAD, readme=README
    )
    world.public.refresh_from_db()
    world.public_version.openapi_schema = payload_schema()
    world.public_version.save()
    world.acme.display_name = "Acme " + PAYLOAD
    world.acme.save()
    User.objects.filter(pk=world.cast.alice.user.pk).update(name="Alice " + PAYLOAD)
    ApiToken.objects.filter(pk=world.alice_token.pk).update(name="laptop " + PAYLOAD)
    ApiToken.objects.filter(pk=world.acme_token.pk).update(name="ci " + PAYLOAD)
    world.collection.name = "Widgets " + PAYLOAD
    world.collection.description = "About " + PAYLOAD
    world.collection.full_description = "All about " + PAYLOAD
    world.collection.save()
    link_output = [
        f"https://example.com/a.png?{BREAKOUT}",
        f"https://example.com/{SCRIPT}.bin",
        f"data:image/svg+xml,<svg onload=alert(1)>{SCRIPT}",
        f"data:text/html,{SCRIPT}",
    ]
    for prediction, output in [
        (world.example, "out " + PAYLOAD),
        (world.shared, link_output),
    ]:
        prediction.input = {"prompt": PAYLOAD, "steps": 2, "style": PAYLOAD}
        prediction.output = output
        prediction.logs = "log " + PAYLOAD
        prediction.error = "error " + PAYLOAD
        prediction.status = "failed" if prediction is world.shared else "succeeded"
        prediction.save()
    return world


def pages(w: World) -> list[tuple[str, str, bool]]:
    """(who, path, whether the page must show a payload) for every page that shows
    user-written content."""
    model = w.public.full_name
    owner_pages = [
        "/",
        "/explore",
        "/explore?query=widget",
        "/collections",
        f"/collections/{w.collection.slug}",
        "/dashboard?account=acme",
        "/account/",
        "/organizations/acme/",
        f"/{model}",
        f"/{model}?prediction={w.example.id}",
        f"/{model}?prediction={w.shared.id}",
        f"/{model}/api",
        f"/{model}/api?prediction={w.example.id}",
        f"/{model}/api/node",
        f"/{model}/api/http",
        f"/{model}/examples",
        f"/{model}/readme",
        f"/{model}/versions",
        f"/{model}/versions/{w.public_version.digest}",
        f"/{model}/settings",
        f"/p/{w.example.id}",
        f"/p/{w.shared.id}",
    ]
    # Pages that show none of it (the organizations list shows names, not display names), or
    # echo the request itself.
    echoing = ["/organizations/", f"/explore?query={SCRIPT}", f"/{SCRIPT}/x", f"/acme/{BREAKOUT}"]
    anonymous_pages = [
        "/",
        "/explore?query=widget",
        f"/collections/{w.collection.slug}",
        f"/{model}",
        f"/{model}/readme",
        f"/p/{w.shared.id}",
        f"/p/{w.example.id}",
    ]
    return (
        [("owner", path, True) for path in owner_pages]
        + [("owner", path, False) for path in echoing]
        + [("anonymous", path, True) for path in anonymous_pages]
    )


def test_every_page_shows_the_payloads_inert(poisoned):
    failures = []
    for role, path, shows in pages(poisoned):
        client = client_as(poisoned, role)
        for htmx in (False, True):
            headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
            response = client.get(path, **headers)
            where = f"{role} GET {path}{' (htmx)' if htmx else ''}"
            html = response.content.decode()
            try:
                assert_inert(html, where)
                if shows and not htmx:
                    assert response.status_code == 200, f"{where}: {response.status_code}"
                    assert ESCAPED_SCRIPT in html or "&lt;script&gt;" in html, (
                        f"{where}: the payload is not on the page, so the test proves nothing"
                    )
            except AssertionError as error:
                failures.append(str(error))
    assert not failures, "\n".join(failures)


def test_the_readme_keeps_no_script_and_no_javascript_link(poisoned):
    response = client_as(poisoned, "anonymous").get(f"/{poisoned.public.full_name}/readme")
    html = response.content.decode()
    assert_inert(html, "README")
    assert "click me" in html and "raw link" in html  # shown as text, never as links
    assert '<a href="javascript' not in html.lower()


def test_forms_refuse_javascript_links(poisoned):
    """Links people give are https only: javascript: never gets stored to be shown."""
    model = poisoned.public
    settings_form = {
        "description": "d",
        "visibility": "public",
        "default_hardware": "",
        "github_url": JS_LINK,
        "paper_url": "",
        "license_url": "",
        "readme": "",
    }
    alice = client_as(poisoned, "owner")
    response = alice.post(f"/{model.full_name}/settings", settings_form)
    assert response.status_code == 422
    response = alice.post("/account/", {"name": "a", "email": "", "github_url": JS_LINK})
    assert response.status_code == 422
    response = alice.post(
        "/organizations/acme/", {"display_name": "a", "github_url": "JavaScript:alert(1)"}
    )
    assert response.status_code == 422
    response = Client().patch(
        f"/v1/models/{model.full_name}",
        json.dumps({"github_url": JS_LINK}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {poisoned.cast.acme_token}",
    )
    assert response.status_code == 422
    model.refresh_from_db()
    assert model.github_url == ""
    assert User.objects.get(username="alice").github_url == ""


@pytest.mark.parametrize("name", [SCRIPT, BREAKOUT, "a<b", 'x"y', "java script", "a/b"])
def test_names_in_urls_cannot_carry_markup(db, name):
    """Usernames, organization and model names are restricted to letters, digits, - and _
    (models also . ), so they never carry markup; display names are free text and escaped."""
    response = Client().post(
        "/signup/",
        {"username": name, "password1": "a long pass 123", "password2": "a long pass 123"},
    )
    assert response.status_code == 422
    assert not User.objects.filter(username=name).exists()


def test_organization_and_model_names_cannot_carry_markup(world):
    alice = client_as(world, "owner")
    response = alice.post("/organizations/", {"name": SCRIPT, "display_name": "x"})
    assert response.status_code == 422
    response = Client().post(
        "/v1/models",
        json.dumps({"owner": "acme", "name": SCRIPT, "visibility": "public", "hardware": "cpu"}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {world.cast.acme_token}",
    )
    assert response.status_code == 422


def test_a_new_token_named_with_a_payload_is_shown_inert(world):
    alice = client_as(world, "owner")
    for htmx in (False, True):
        headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
        response = alice.post("/account/tokens/", {"name": PAYLOAD}, **headers)
        assert response.status_code in (200, 201)
        assert_inert(response.content.decode(), f"token created (htmx={htmx})")
        assert "&lt;script&gt;" in response.content.decode()


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("https://evil.example/", "/dashboard?account=acme"),
        ("//evil.example/", "/dashboard?account=acme"),
        (JS_LINK, "/dashboard?account=acme"),
        ("/acme/open-model", "/acme/open-model"),
    ],
)
def test_switching_accounts_never_redirects_off_site(world, target, expected):
    response = client_as(world, "owner").post(
        "/account/context/", {"account": "acme", "next": target}
    )
    assert response.status_code == 302
    assert response["Location"] == expected


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/", JS_LINK])
def test_logging_in_never_redirects_off_site(world, target):
    response = Client().post(
        f"/login/?next={target}",
        {"username": "alice", "password": "correct horse battery staple"},
    )
    assert response.status_code == 302
    assert not response["Location"].startswith(("https:", "//", "javascript:"))


# The prediction websocket's HTML fragments


async def receive_all(communicator, limit: int = 20) -> list[str]:
    messages = []
    for _ in range(limit):
        output = await communicator.receive_output(timeout=5)
        if output["type"] == "websocket.close":
            break
        messages.append(output.get("text", ""))
    return messages


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("concatenate", [True, False])
def test_websocket_fragments_are_inert(world, concatenate):
    output = STREAMING_OUTPUT if concatenate else {"type": "array", "items": {"type": "string"}}
    version = make_version(world.public, ("c" if concatenate else "d") * 64, payload_schema(output))
    prediction = Prediction.objects.create(
        owner=world.acme.account,
        model=world.public,
        version=version,
        input={"prompt": PAYLOAD},
        status="processing",
    )
    events.client().delete(events.stream_key(prediction.id))
    headers = ws_headers(world, "member")
    path = f"/ws/predictions/{prediction.id}/?format=html&after=0-0"
    chunks = [SCRIPT, BREAKOUT, JS_LINK, f"https://example.com/{BREAKOUT}.png"]

    async def scenario():
        communicator = WebsocketCommunicator(application, path, headers=headers)
        connected, _ = await communicator.connect(timeout=10)
        assert connected
        for chunk in chunks:
            await sync_to_async(events.append)(prediction.id, "output", chunk)
        await sync_to_async(events.append)(prediction.id, "logs", f"50%|##  | 5/10 {PAYLOAD}\n")
        await sync_to_async(events.append)(prediction.id, "status", "processing")
        await sync_to_async(Prediction.objects.filter(pk=prediction.pk).update)(
            status="failed", output=chunks, logs="logs " + PAYLOAD, error="error " + PAYLOAD
        )
        await sync_to_async(events.append)(prediction.id, "error", {"detail": PAYLOAD})
        await sync_to_async(events.finish)(prediction.id)
        return await receive_all(communicator)

    messages = asyncio.run(scenario())
    assert len(messages) >= len(chunks) + 2, messages  # each output, the logs, the end
    for number, message in enumerate(messages):
        assert_inert(message, f"websocket message {number}")
    assert any("&lt;script&gt;" in message for message in messages)
    assert "error &lt;script&gt;" in messages[-1]  # the final panel shows the stored error
