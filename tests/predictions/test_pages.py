"""The playground's Run, the prediction page, Cancel and Share, with the Django test client;
and the page's live fragments from the websocket, which continue exactly where the page ends."""

from __future__ import annotations

import asyncio
import re
from html import unescape

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.template.loader import render_to_string
from django.utils import timezone

from apps.catalog.models import Model, Version
from apps.core.links import public_base
from apps.predictions import display, events
from apps.predictions.forms import PlaygroundForm, playground_initial
from apps.predictions.models import Prediction
from apps.predictions.services import SECRET_MASK
from config.asgi import application
from tests.catalog.factories import (
    FILE_OUTPUT,
    STEPS,
    STREAMING_OUTPUT,
    STYLE,
    add_version,
    cog_schema,
    make_model,
    style_input,
)

XSS = "<script>alert(1)</script>"

SCHEMA = cog_schema(
    {
        "prompt": {
            "type": "string",
            "title": "Prompt",
            "description": "What to draw " + XSS,
            "x-order": 0,
        },
        "steps": STEPS,
        "temperature": {
            "type": "number",
            "title": "Temperature",
            "minimum": 0.0,
            "maximum": 2.0,
            "default": 0.7,
            "x-order": 2,
        },
        "style": style_input("b", 3),
        "seed": {
            "type": "integer",
            "title": "Seed",
            "nullable": True,
            "default": None,
            "x-order": 4,
        },
        "image": {
            "type": "string",
            "format": "uri",
            "title": "Image",
            "x-cog-accept": "image/*",
            "nullable": True,
            "default": None,
            "x-order": 5,
        },
        "token": {
            "type": "string",
            "format": "password",
            "title": "Token",
            "writeOnly": True,
            "x-cog-secret": True,
            "nullable": True,
            "default": None,
            "x-order": 6,
        },
        "upscale": {"type": "boolean", "title": "Upscale", "default": True, "x-order": 7},
        "tags": {
            "type": "array",
            "items": {"type": "string"},
            "title": "Tags",
            "default": ["a", "b"],
            "x-order": 8,
        },
        "code": {
            "type": "string",
            "title": "Code",
            "maxLength": 8,
            "pattern": "^[a-z]+$",
            "default": "abc",
            "x-order": 9,
        },
    },
    STREAMING_OUTPUT,
    style=STYLE,
)
IMAGE_SCHEMA = cog_schema({}, FILE_OUTPUT, required=())


@pytest.fixture
def version(cast) -> Version:
    return add_version(make_model(cast, name="painter"), "c" * 64, SCHEMA)


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def make_prediction(version: Version, owner, **fields) -> Prediction:
    prediction = Prediction.objects.create(
        owner=owner,
        model=version.model,
        version=version,
        source="web",
        input=fields.pop("input", {"prompt": "a cat"}),
        **fields,
    )
    events.client().delete(events.stream_key(prediction.id))
    return prediction


def run(client, body=None, path="/acme/painter/predictions", htmx=False, **extra):
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    return client.post(path, body or {"prompt": "a cat", "steps": "3"}, **headers, **extra)


def field_html(html: str, name: str) -> str:
    """The playground's markup for one input (its label, widgets, help and errors)."""
    start = html.index(f'for="id_{name}"')
    start = html.rindex('<div class="field', 0, start)
    end = html.find('<div class="field', start + 1)
    return html[start : end if end != -1 else len(html)]


# The form


def render_playground(version, **form_options) -> str:
    form = PlaygroundForm(version.openapi_schema, **form_options)
    return render_to_string(
        "predictions/_playground.html",
        {"model": version.model, "version": version, "form": form},
    )


def test_it_builds_the_form_from_the_schema_in_order_with_hints_and_defaults(cast, version):
    html = render_playground(version)
    order = [html.index(f'name="{name}"') for name in ("prompt", "steps", "style", "image")]
    assert order == sorted(order)
    prompt = field_html(html, "prompt")
    assert "<textarea" in prompt and "required" in prompt
    assert "What to draw &lt;script&gt;" in prompt and XSS not in html
    steps = field_html(html, "steps")
    assert 'type="range" min="1" max="10" step="1"' in steps
    assert re.search(r'type="number"[^>]*value="2"', steps)
    assert 'min="1"' in steps and 'max="10"' in steps
    temperature = field_html(html, "temperature")
    assert 'type="range" min="0" max="2" step="any"' in temperature
    assert 'value="0.7"' in temperature
    style = field_html(html, "style")
    assert "<select" in style and "An enumeration" not in style
    assert re.search(r'<option value="&quot;b&quot;" selected>b</option>', style)
    image = field_html(html, "image")
    assert 'type="file"' in image and 'accept="image/*"' in image
    assert 'name="image__url"' in image and 'type="url"' in image
    token = field_html(html, "token")
    assert 'type="password"' in token
    assert 'type="checkbox"' in field_html(html, "upscale") and "checked" in html
    assert "a\nb</textarea>" in field_html(html, "tags")
    code = field_html(html, "code")
    assert 'maxlength="8"' in code and 'pattern="^[a-z]+$"' in code and 'value="abc"' in code
    assert 'enctype="multipart/form-data"' in html


def test_it_cleans_the_fields_into_the_json_input(cast, version):
    data = {
        "prompt": "a cat\r\non a mat",
        "steps": "3",
        "temperature": "1.5",
        "style": '"a"',
        "seed": "",
        "upscale": "",
        "tags": "x\r\n\r\ny \r\n",
        "code": "",
    }
    form = PlaygroundForm(version.openapi_schema, data=data)
    assert form.is_valid(), form.errors
    assert form.cleaned_data["input"] == {
        "prompt": "a cat\non a mat",
        "steps": 3,
        "temperature": 1.5,
        "style": "a",
        "upscale": False,
        "tags": ["x", "y"],
    }


def test_it_resolves_enums_of_numbers_and_keeps_their_type(cast, version):
    schema = {
        "components": {
            "schemas": {
                "Input": {
                    "type": "object",
                    "properties": {
                        "size": {"allOf": [{"$ref": "#/components/schemas/size"}], "x-order": 0}
                    },
                    "required": ["size"],
                },
                "size": {"enum": [128, 256], "type": "integer", "title": "size"},
            }
        }
    }
    form = PlaygroundForm(schema, data={"size": "256"})
    assert form.is_valid(), form.errors
    assert form.cleaned_data["input"] == {"size": 256}
    assert not PlaygroundForm(schema, data={"size": ""}).is_valid()


def test_tweak_it_prefills_the_inputs_but_never_the_secrets(cast, version):
    prediction = make_prediction(
        version,
        cast.alice.user.account,
        input={
            "prompt": "a dog",
            "steps": 7,
            "style": "a",
            "image": "https://example.com/x.png",
            "token": SECRET_MASK,
            "tags": ["p", "q"],
        },
    )
    initial = playground_initial(prediction)
    assert initial == {
        "prompt": "a dog",
        "steps": 7,
        "style": '"a"',
        "image__url": "https://example.com/x.png",
        "tags": "p\nq",
    }
    html = render_playground(version, initial=initial)
    assert ">\na dog</textarea>" in html
    assert 'value="https://example.com/x.png"' in html
    assert SECRET_MASK not in html


# Run


def test_a_plain_run_creates_a_web_prediction_and_redirects_to_its_page(client_for, cast, version):
    response = run(client_for(cast.bob))
    prediction = Prediction.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/p/{prediction.id}"
    assert prediction.source == "web"
    assert prediction.owner == cast.bob.user.account
    assert prediction.created_by == cast.bob.user
    assert prediction.version == version
    assert prediction.input == {
        "prompt": "a cat",
        "steps": 3,
        "upscale": False,
    }


def test_an_htmx_run_answers_with_the_live_output_panel(client_for, cast, version):
    response = run(client_for(cast.alice), htmx=True)
    prediction = Prediction.objects.get()
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html
    assert f'id="pred-{prediction.id}"' in html
    assert f'ws-connect="/ws/predictions/{prediction.id}/?format=html&amp;after=0-0"' in html
    assert 'hx-ext="ws"' in html
    assert f'href="/p/{prediction.id}"' in html  # a link to the prediction's own page


def test_run_takes_the_version_from_the_query(client_for, cast, version):
    older = version
    newer = add_version(version.model, "d" * 64)
    client = client_for(cast.alice)
    run(client)
    run(client, path=f"/acme/painter/predictions?version={older.digest}")
    assert [p.version for p in Prediction.objects.order_by("created_at")] == [newer, older]
    assert run(client, path="/acme/painter/predictions?version=" + "e" * 64).status_code == 404


def test_invalid_input_comes_back_with_each_error_next_to_its_field(client_for, cast, version):
    client = client_for(cast.alice)
    response = run(client, {"prompt": "", "steps": "11", "temperature": "warm"})
    html = response.content.decode()
    assert response.status_code == 422
    assert "prompt is required" in field_html(html, "prompt")
    assert "steps must be less than or equal to 10" in field_html(html, "steps")
    assert "Enter a number." in field_html(html, "temperature")
    assert not Prediction.objects.exists()

    response = run(client, {"prompt": "x", "code": "ABC"}, htmx=True)
    html = response.content.decode()
    assert response.status_code == 422
    assert response["HX-Retarget"] == "#playground-form"
    assert response["HX-Reswap"] == "outerHTML"
    assert html.lstrip().startswith('<form id="playground-form"')
    assert "code does not match pattern ^[a-z]+$" in field_html(html, "code")


def test_run_needs_a_login(client, cast, version):
    Model.objects.filter(pk=version.model_id).update(visibility="public")
    response = run(client)
    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/acme/painter"
    response = run(client, htmx=True)
    assert response["HX-Redirect"] == "/login/?next=/acme/painter"
    assert not Prediction.objects.exists()


def test_outsiders_cannot_run_a_private_model_but_anyone_may_run_a_public_one(
    client_for, cast, version
):
    client = client_for(cast.charlie)
    assert run(client).status_code == 404
    Model.objects.filter(pk=version.model_id).update(visibility="public")
    assert run(client).status_code == 302
    assert Prediction.objects.get().owner == cast.charlie.user.account


def test_uploads_are_stored_and_passed_as_urls_of_this_site(client_for, cast, version, media):
    client = client_for(cast.alice)
    upload = SimpleUploadedFile("cat photo.png", b"\x89PNG fake", content_type="image/png")
    assert run(client, {"prompt": "x", "image": upload}).status_code == 302
    url = Prediction.objects.get().input["image"]
    prefix = public_base() + "/media/uploads/"
    assert url.startswith(prefix) and url.endswith("/cat_photo.png")
    name = url.removeprefix(public_base() + "/media/")
    assert (media / name).read_bytes() == b"\x89PNG fake"
    assert len(name.split("/")[1]) >= 32  # a random folder: the URL is not guessable
    assert client.get("/media/" + name).status_code == 200


def test_a_url_may_stand_in_for_an_upload_but_only_http_or_data(client_for, cast, version, media):
    client = client_for(cast.alice)
    response = run(client, {"prompt": "x", "image__url": "https://example.com/cat.png"})
    assert response.status_code == 302
    assert Prediction.objects.get().input["image"] == "https://example.com/cat.png"
    response = run(client, {"prompt": "x", "image__url": "javascript:alert(1)"})
    assert response.status_code == 422
    assert "Enter an http(s) URL or a data: URI." in field_html(response.content.decode(), "image")


def test_nothing_is_stored_when_the_input_is_invalid(client_for, cast, version, media):
    upload = SimpleUploadedFile("cat.png", b"png", content_type="image/png")
    response = run(client_for(cast.alice), {"prompt": "", "image": upload})
    assert response.status_code == 422
    assert not (media / "uploads").exists()


# The prediction page


@pytest.fixture
def finished(cast, version) -> Prediction:
    now = timezone.now()
    return make_prediction(
        version,
        cast.acme.account,
        input={"prompt": "a cat", "token": SECRET_MASK},
        status="succeeded",
        output=["Hel", "lo ", "world"],
        logs="loading\n 50%|#####     | 5/10 [00:01<00:01]\rdone\n",
        metrics={"predict_time": 2.0, "total_time": 2.5},
        started_at=now,
        completed_at=now,
    )


@pytest.mark.parametrize("who", ["alice", "bob"])
def test_members_see_the_prediction_page(client_for, cast, finished, who):
    response = client_for(getattr(cast, who)).get(f"/p/{finished.id}")
    html = response.content.decode()
    assert response.status_code == 200
    assert "Hello world" in html
    assert "Succeeded" in html and "2.00s" in html
    assert "$0.000200" in html and "on CPU" in html
    assert '<progress max="100" value="50"' in html
    assert "loading\n" in html
    assert "ws-connect" not in html  # finished: nothing to follow
    assert f'href="/acme/painter?prediction={finished.id}"' in html  # Tweak it
    assert SECRET_MASK in html
    assert "Cancel</button>" not in html
    assert "Share</button>" in html


@pytest.mark.parametrize("who", [None, "charlie"])
def test_outsiders_and_anonymous_visitors_get_404_unless_it_is_shared(
    client, client_for, cast, finished, who
):
    client = client_for(getattr(cast, who)) if who else client
    assert client.get(f"/p/{finished.id}").status_code == 404
    assert client.get("/p/nosuchprediction").status_code == 404
    Prediction.objects.filter(pk=finished.pk).update(is_shared=True)
    response = client.get(f"/p/{finished.id}")
    html = response.content.decode()
    assert response.status_code == 200
    assert "Hello world" in html
    assert "Share</button>" not in html and "Stop sharing" not in html


def test_a_shared_page_has_open_graph_tags(client, cast, version):
    model = version.model
    model.visibility = "public"
    model.save()
    image_version = add_version(model, "f" * 64, IMAGE_SCHEMA)
    output = public_base() + "/media/predictions/x/out.png"
    prediction = make_prediction(
        image_version,
        cast.acme.account,
        input={"prompt": "a red fox"},
        status="succeeded",
        output=output,
        is_shared=True,
    )
    html = client.get(f"/p/{prediction.id}").content.decode()
    assert '<meta property="og:title" content="acme/painter: prediction' in html
    assert '<meta property="og:description" content="a red fox">' in html
    assert f'<meta property="og:image" content="{output}">' in html
    assert f'<meta property="og:url" content="http://testserver/p/{prediction.id}">' in html
    assert f'<img src="{output}"' in html


def test_a_private_page_has_no_open_graph_tags(client_for, cast, finished):
    html = client_for(cast.alice).get(f"/p/{finished.id}").content.decode()
    assert "og:title" not in html


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        (
            "https://x.test/a/voice.wav",
            '<audio controls preload="metadata" src="https://x.test/a/voice.wav">',
        ),
        (
            "https://x.test/a/clip.mp4",
            '<video controls preload="metadata" src="https://x.test/a/clip.mp4">',
        ),
        ("https://x.test/a/model.bin", 'href="https://x.test/a/model.bin" download'),
        ({"text": "hi", "score": 0.5}, '"score": 0.5'),
        ([0.25, -1.5], "0.25,\n  -1.5"),
        ("data:image/png;base64,iVBOR", '<img src="data:image/png;base64,iVBOR"'),
    ],
)
def test_outputs_are_shown_by_type(client_for, cast, version, output, expected):
    image_version = add_version(version.model, "f" * 64, IMAGE_SCHEMA)
    prediction = make_prediction(
        image_version, cast.acme.account, status="succeeded", output=output
    )
    html = client_for(cast.alice).get(f"/p/{prediction.id}").content.decode()
    assert expected in unescape(html) or expected in html


def test_model_output_logs_and_input_are_rendered_inert(client_for, cast, version):
    image_version = add_version(version.model, "f" * 64, IMAGE_SCHEMA)
    prediction = make_prediction(
        image_version,
        cast.acme.account,
        input={"prompt": XSS, "image": "javascript:alert(2)"},
        status="failed",
        output=[XSS, "javascript:alert(3)"],
        logs=XSS,
        error=XSS,
    )
    html = client_for(cast.alice).get(f"/p/{prediction.id}").content.decode()
    assert "<script>alert" not in html
    assert html.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 3
    assert 'href="javascript:' not in html and 'src="javascript:' not in html


def test_the_page_needs_a_bounded_number_of_queries(
    client_for, cast, finished, django_assert_max_num_queries
):
    client = client_for(cast.bob)
    # ... plus its cost: the ledger's record, and the price of the CPU it ran on (a model
    # with no hardware of its own)
    with django_assert_max_num_queries(8):
        assert client.get(f"/p/{finished.id}").status_code == 200


def test_an_htmx_get_answers_with_the_panel_only(client_for, cast, finished):
    response = client_for(cast.alice).get(f"/p/{finished.id}", HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html and f'id="pred-{finished.id}"' in html
    assert "Hello world" in html


def test_a_running_prediction_shows_what_came_so_far_and_follows_after_it(
    client_for, cast, version
):
    prediction = make_prediction(
        version, cast.acme.account, status="processing", started_at=timezone.now()
    )
    events.append(prediction.id, "status", "processing")
    events.append(prediction.id, "logs", "step 1\n")
    events.append(prediction.id, "output", "Hel")
    last = events.append(prediction.id, "output", "lo")
    html = client_for(cast.alice).get(f"/p/{prediction.id}").content.decode()
    assert f'id="pred-{prediction.id}-text" data-empty="Waiting for output…">Hello</div>' in html
    assert "step 1\n</pre>" in html
    assert f'ws-connect="/ws/predictions/{prediction.id}/?format=html&amp;after={last}"' in html
    assert f'data-event="{last}"' in html
    assert "running for" in html
    assert "Cancel</button>" in html
    assert '<meta http-equiv="refresh"' in html  # without JavaScript it refreshes instead


def test_a_status_saved_while_the_page_renders_is_not_missed(client_for, cast, version):
    """The worker saves `processing`, then logs its event: a page that read the row just before
    and the log just after must still show `processing` (the websocket will not repeat it)."""
    prediction = make_prediction(version, cast.acme.account)
    stale = Prediction.objects.get(pk=prediction.pk)
    Prediction.objects.filter(pk=prediction.pk).update(
        status="processing", started_at=timezone.now()
    )
    events.append(prediction.id, "status", "processing")
    context = display.panel_context(stale, can_manage=True)
    html = render_to_string("predictions/prediction.html#status", context)
    assert "Processing" in html and "running for" in html


# Cancel and Share


@pytest.mark.parametrize(("shared", "refused"), [(False, 404), (True, 403)])
def test_only_members_may_cancel(client, client_for, cast, version, shared, refused):
    prediction = make_prediction(version, cast.acme.account, is_shared=shared)
    assert client.post(f"/p/{prediction.id}/cancel").status_code == refused
    assert client_for(cast.charlie).post(f"/p/{prediction.id}/cancel").status_code == refused
    prediction.refresh_from_db()
    assert prediction.status == "starting"
    response = client_for(cast.bob).post(f"/p/{prediction.id}/cancel")
    assert response.status_code == 302
    assert response["Location"] == f"/p/{prediction.id}"
    prediction.refresh_from_db()
    assert prediction.status == "canceled"


def test_an_htmx_cancel_answers_with_the_actions(client_for, cast, version):
    prediction = make_prediction(version, cast.acme.account, status="processing")
    response = client_for(cast.alice).post(f"/p/{prediction.id}/cancel", HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200
    assert f'id="pred-{prediction.id}-actions"' in html and "Canceling…" in html


def test_members_share_and_unshare_and_the_page_then_works_logged_out(
    client, client_for, cast, finished
):
    member = client_for(cast.bob)
    assert member.post(f"/p/{finished.id}/share", {"shared": "1"}).status_code == 302
    finished.refresh_from_db()
    assert finished.is_shared
    client.logout()
    assert client.get(f"/p/{finished.id}").status_code == 200

    member = client_for(cast.alice)
    response = member.post(f"/p/{finished.id}/share", {"shared": "0"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert 'id="pred-share"' in response.content.decode()
    assert "<html" not in response.content.decode()
    finished.refresh_from_db()
    assert not finished.is_shared
    client.logout()
    assert client.get(f"/p/{finished.id}").status_code == 404


@pytest.mark.parametrize("who", [None, "charlie"])
def test_only_members_may_change_the_sharing(client, client_for, cast, finished, who):
    Prediction.objects.filter(pk=finished.pk).update(is_shared=True)
    client = client_for(getattr(cast, who)) if who else client
    assert client.post(f"/p/{finished.id}/share", {"shared": "0"}).status_code == 403
    finished.refresh_from_db()
    assert finished.is_shared
    Prediction.objects.filter(pk=finished.pk).update(is_shared=False)
    assert client.post(f"/p/{finished.id}/share", {"shared": "1"}).status_code == 404
    finished.refresh_from_db()
    assert not finished.is_shared


# Live updates: the websocket's fragments continue exactly where the page ended


def ws_headers(client, person):
    client.force_login(person.user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    return [(b"origin", b"http://testserver"), (b"cookie", f"sessionid={cookie}".encode())]


def appended(messages: list[str], target: str) -> str:
    """The text the messages append to `target`, as htmx would after unescaping."""
    pattern = rf'<span hx-swap-oob="beforeend:#{target}">(.*?)</span>'
    return "".join(unescape(m) for message in messages for m in re.findall(pattern, message, re.S))


@pytest.mark.django_db(transaction=True)
def test_the_page_and_its_websocket_show_every_chunk_exactly_once(client, cast, version):
    prediction = make_prediction(version, cast.acme.account, status="processing")
    events.append(prediction.id, "logs", "loading\n")
    events.append(prediction.id, "output", "Hel")
    client.force_login(cast.alice.user)
    html = client.get(f"/p/{prediction.id}").content.decode()
    shown = re.search(rf'id="pred-{prediction.id}-text"[^>]*>(.*?)</div>', html).group(1)
    ws_url = unescape(re.search(r'ws-connect="([^"]+)"', html).group(1))
    events.append(prediction.id, "output", "lo ")  # after the page was rendered
    headers = ws_headers(client, cast.alice)

    async def scenario():
        communicator = WebsocketCommunicator(application, ws_url, headers=headers)
        connected, _ = await communicator.connect(timeout=10)
        assert connected
        first = await communicator.receive_from(timeout=5)
        await sync_to_async(events.append)(prediction.id, "output", XSS)
        await sync_to_async(events.append)(prediction.id, "logs", " 40%|####      | 4/10\n")
        messages = [first] + [await communicator.receive_from(timeout=5) for _ in range(2)]
        await sync_to_async(Prediction.objects.filter(pk=prediction.pk).update)(
            status="succeeded",
            output=["Hel", "lo ", XSS],
            logs="done\n",
            completed_at=timezone.now(),
        )
        await sync_to_async(events.append)(prediction.id, "status", "succeeded")
        await sync_to_async(events.finish)(prediction.id)
        messages += [await communicator.receive_from(timeout=5) for _ in range(2)]
        closed = await communicator.receive_output(timeout=5)
        assert closed["type"] == "websocket.close"
        return messages

    messages = asyncio.run(scenario())
    assert shown + appended(messages, f"pred-{prediction.id}-text") == "Hello " + XSS
    assert all(
        m.startswith(f'<span id="pred-{prediction.id}-cursor" data-event="') for m in messages
    )
    assert "<script>" not in "".join(messages)
    assert 'value="40"' in messages[2]  # the progress bar follows the logs
    assert "Succeeded" in messages[3]
    final = messages[4]
    assert f'id="pred-{prediction.id}-output"' in final and "Hello &lt;script&gt;" in final
    assert f'<pre id="pred-{prediction.id}-logs"' in final and "done\n</pre>" in final


@pytest.mark.django_db(transaction=True)
def test_a_page_opened_after_the_end_gets_the_final_state_and_a_closed_socket(
    client, cast, version
):
    prediction = make_prediction(version, cast.acme.account, status="succeeded", output=["ok"])
    headers = ws_headers(client, cast.bob)
    path = f"/ws/predictions/{prediction.id}/?format=html&after=0-0"

    async def scenario():
        communicator = WebsocketCommunicator(application, path, headers=headers)
        connected, _ = await communicator.connect(timeout=10)
        assert connected
        message = await communicator.receive_from(timeout=5)
        closed = await communicator.receive_output(timeout=5)
        return message, closed

    message, closed = asyncio.run(scenario())
    assert f'id="pred-{prediction.id}-text" data-empty="No output.">ok</div>' in message
    assert closed["type"] == "websocket.close"
