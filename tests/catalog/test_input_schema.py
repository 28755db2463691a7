"""One reader of a version's inputs (`apps.runtime.schema.inputs`): the playground, the API
tab's table and snippets and the API's validation agree on each input, however Cog wrote it.
Older versions point at an input's enum with a bare `$ref` instead of `allOf: [{$ref}]`."""

from __future__ import annotations

import json
import re
from html import unescape

import pytest

from apps.catalog.models import Version
from apps.predictions.forms import PlaygroundForm
from tests.catalog.factories import add_version, cog_schema, make_model

COLOR = {"title": "color", "description": "An enumeration.", "enum": ["red", "green"]}
SIZE = {"title": "size", "description": "An enumeration.", "enum": [128, 256]}

SCHEMA = cog_schema(
    {
        "prompt": {"type": "string", "title": "Prompt", "x-order": 0},
        "color": {"$ref": "#/components/schemas/color", "x-order": 1},
        "size": {"$ref": "#/components/schemas/size", "default": 256, "x-order": 2},
    },
    required=("prompt", "color"),
    color={**COLOR, "type": "string"},
    size={**SIZE, "type": "integer"},
)


@pytest.fixture
def version(cast) -> Version:
    model = make_model(cast, "public", owner=cast.alice.user.account, name="painter")
    return add_version(model, "c" * 64, SCHEMA)


def post(client, person, body):
    return client.post(
        "/v1/predictions",
        data=json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {person.token}",
    )


def select(html: str, name: str) -> str:
    match = re.search(rf'<select name="{name}".*?</select>', html, re.S)
    assert match, f"no select for {name}"
    return match.group(0)


def test_a_bare_ref_input_is_a_choice_on_the_playground(client, cast, version):
    client.force_login(cast.alice.user)
    html = client.get("/alice/painter").content.decode()
    color = select(html, "color")
    assert '<option value="&quot;red&quot;">red</option>' in color
    assert '<option value="&quot;green&quot;">green</option>' in color
    assert re.search(r'<option value="256" selected>256</option>', select(html, "size"))
    assert "An enumeration" not in html  # the enum's description is not the input's


def test_a_bare_ref_input_is_listed_and_filled_in_on_the_api_tab(client, cast, version):
    html = client.get("/alice/painter/api").content.decode()
    assert "one of red, green" in html and "one of 128, 256" in html
    code = unescape(re.search(r'<code id="snippet-code"[^>]*>(.*?)</code>', html, re.S)[1])
    # A required choice without a default starts from its first choice, not an empty string.
    assert '"color": "red",' in code and '"size": 256,' in code


def test_a_bare_ref_input_validates_the_same_on_the_api_and_the_playground(client, cast, version):
    response = post(client, cast.alice, {"version": "c" * 64, "input": {"prompt": "x"}})
    assert response.status_code == 422
    assert response.json()["invalid_fields"][0]["description"] == "color is required"

    body = {"version": "c" * 64, "input": {"prompt": "x", "color": "blue", "size": 512}}
    problems = post(client, cast.alice, body).json()["invalid_fields"]
    assert [(p["type"], p["field"], p["description"]) for p in problems] == [
        ("enum", "input.color", 'color must be one of the following: "red", "green"'),
        ("enum", "input.size", "size must be one of the following: 128, 256"),
    ]

    body = {"version": "c" * 64, "input": {"prompt": "x", "color": "green", "size": 128}}
    response = post(client, cast.alice, body)
    assert response.status_code == 201
    assert response.json()["input"] == {"prompt": "x", "color": "green", "size": 128}

    form = PlaygroundForm(SCHEMA, data={"prompt": "x", "color": '"green"', "size": "128"})
    assert form.is_valid(), form.errors
    assert form.cleaned_data["input"] == {"prompt": "x", "color": "green", "size": 128}
    assert not PlaygroundForm(SCHEMA, data={"prompt": "x", "color": ""}).is_valid()
