"""The API tab: snippets for the official clients, filled in from defaults, an example or a
prediction, with this server's base URL."""

from __future__ import annotations

import re
from html import unescape

import httpx
import replicate

from apps.catalog.models import Model, Version
from tests.catalog.factories import (
    FILE_OUTPUT,
    STREAMING_OUTPUT,
    add_prediction,
    add_version,
    make_model,
    schema_with_output,
)


def snippet(html: str, element_id: str) -> str:
    match = re.search(rf'<code id="{element_id}"[^>]*>(.*?)</code>', html, re.S)
    assert match, f"no {element_id} in the page"
    return unescape(match.group(1))


def test_the_python_snippet_uses_the_base_url_without_v1(client, sauce):
    html = client.get("/acme/secret-sauce/api").content.decode()
    setup, code = snippet(html, "snippet-setup"), snippet(html, "snippet-code")
    assert "pip install replicate" in setup
    assert "export REPLICATE_BASE_URL=http://testserver " in setup
    assert "/v1" not in setup.split("REPLICATE_BASE_URL=")[1].split()[0]
    assert f'replicate.run(\n    "acme/secret-sauce:{"d" * 64}",' in code
    # The form's defaults, a placeholder for the required prompt, never a secret.
    assert '"steps": 2,' in code and '"style": "a",' in code and '"loud": False,' in code
    assert '"prompt": "",' in code
    assert "api_key" not in code


def test_the_node_snippet_uses_the_base_url_with_v1(client, sauce):
    html = client.get("/acme/secret-sauce/api/node").content.decode()
    code = snippet(html, "snippet-code")
    assert 'baseUrl: "http://testserver/v1",' in code
    assert "auth: process.env.REPLICATE_API_TOKEN," in code
    assert f'await replicate.run("acme/secret-sauce:{"d" * 64}", {{ input }});' in code
    assert '"loud": false' in code
    assert 'aria-current="page">Node.js</a>' in html


def test_the_http_snippet_posts_to_v1_predictions(client, sauce):
    code = snippet(client.get("/acme/secret-sauce/api/http").content.decode(), "snippet-code")
    assert code.startswith("curl --silent --show-error http://testserver/v1/predictions")
    assert '"version": "acme/secret-sauce:' + "d" * 64 + '"' in code
    assert '--header "Prefer: wait"' in code
    assert "--data @- <<'EOM'" in code


def test_the_snippets_use_the_public_url_when_set(client, sauce, settings):
    settings.PUBLIC_URL = "https://models.example.org"
    html = client.get("/acme/secret-sauce/api").content.decode()
    assert "REPLICATE_BASE_URL=https://models.example.org " in snippet(html, "snippet-setup")
    html = client.get("/acme/secret-sauce/api/node").content.decode()
    assert 'baseUrl: "https://models.example.org/v1"' in snippet(html, "snippet-code")


def test_streaming_models_get_stream_snippets(client, cast):
    model = make_model(cast, visibility="public")
    add_version(model, schema=schema_with_output(STREAMING_OUTPUT))
    code = snippet(client.get("/acme/secret-sauce/api").content.decode(), "snippet-code")
    assert "for event in replicate.stream(" in code
    assert 'print(str(event), end="")' in code
    code = snippet(client.get("/acme/secret-sauce/api/node").content.decode(), "snippet-code")
    assert "for await (const event of replicate.stream(" in code


def test_file_outputs_get_a_snippet_that_writes_the_file(client, cast, settings):
    model = make_model(cast, visibility="public")
    version = add_version(model, schema=schema_with_output(FILE_OUTPUT))
    add_prediction(
        model, version, model.owner, is_example=True, output="http://testserver/media/o/x.webp"
    )
    # Over plain http the clients hand back URLs, not file objects.
    code = snippet(client.get("/acme/secret-sauce/api").content.decode(), "snippet-code")
    assert 'urllib.request.urlretrieve(output, "output.webp")' in code
    settings.PUBLIC_URL = "https://models.example.org"
    code = snippet(client.get("/acme/secret-sauce/api").content.decode(), "snippet-code")
    assert 'with open("output.webp", "wb") as file:\n    file.write(output.read())' in code
    code = snippet(client.get("/acme/secret-sauce/api/node").content.decode(), "snippet-code")
    assert 'await writeFile("output.webp", output);' in code


def test_the_api_tab_fills_in_a_prediction_and_a_version(client_for, cast, sauce):
    old = add_version(sauce, digest="e" * 64)
    sauce.latest_version = Version.objects.get(digest="d" * 64)
    sauce.save()
    prediction = add_prediction(
        sauce,
        old,
        cast.bob.user.account,
        input={"prompt": "it's <b>", "steps": 7, "api_key": "**********"},
    )
    client = client_for(cast.bob)
    html = client.get(f"/acme/secret-sauce/api?prediction={prediction.id}").content.decode()
    code = snippet(html, "snippet-code")
    assert f'"acme/secret-sauce:{"e" * 64}"' in code
    assert '"prompt": "it\'s <b>",' in code and '"steps": 7,' in code
    assert "**********" not in code
    # The tabs keep the prediction, so Playground shows the same inputs.
    assert f'href="/acme/secret-sauce?prediction={prediction.id}"' in html
    code = snippet(
        client.get(f"/acme/secret-sauce/api?version={'e' * 64}").content.decode(), "snippet-code"
    )
    assert f'"acme/secret-sauce:{"e" * 64}"' in code


def test_a_prediction_the_user_may_not_see_is_404(client_for, cast, sauce):
    version = sauce.latest_version
    private = add_prediction(sauce, version, cast.bob.user.account)
    shared = add_prediction(sauce, version, cast.bob.user.account, is_shared=True)
    example = add_prediction(sauce, version, sauce.owner, is_example=True)
    other_model = Model.objects.create(owner=cast.charlie.user.account, name="other")
    elsewhere = add_prediction(other_model, add_version(other_model), cast.charlie.user.account)
    client = client_for(cast.charlie)
    for page in ("", "/api"):
        url = "/acme/secret-sauce" + page
        assert client.get(f"{url}?prediction={private.id}").status_code == 404
        assert client.get(f"{url}?prediction={elsewhere.id}").status_code == 404
        assert client.get(f"{url}?prediction=nope").status_code == 404
        assert client.get(f"{url}?version={'f' * 64}").status_code == 404
        assert client.get(f"{url}?prediction={shared.id}").status_code == 200
        assert client.get(f"{url}?prediction={example.id}").status_code == 200
    assert client_for(cast.bob).get(f"/acme/secret-sauce?prediction={private.id}").status_code == (
        200
    )


def test_the_official_client_works_with_the_python_snippets_base_url(live_server, cast, sauce):
    html = httpx.get(live_server.url + "/acme/secret-sauce/api").text
    base_url = re.search(r"REPLICATE_BASE_URL=(\S+)", html).group(1)
    assert base_url == live_server.url
    ref = re.search(r"&quot;(acme/secret-sauce:[0-9a-f]{64})&quot;", html).group(1)
    client = replicate.Client(api_token=cast.bob.token, base_url=base_url)
    model = client.models.get(ref.split(":")[0])
    assert model.versions.get(ref.split(":")[1]).id == "d" * 64
