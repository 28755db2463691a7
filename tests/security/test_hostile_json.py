"""Input that must never be a 500: JSON that Python's parser takes but nothing can store or
answer (NaN, huge numbers, lone surrogates, deep nesting), impossible dates in list filters,
and the same things typed into the playground's fields."""

from __future__ import annotations

import json

import pytest

from apps.catalog.models import Model
from apps.predictions.models import Prediction
from tests.catalog.factories import add_version, cog_schema, make_model

SCHEMA = cog_schema(
    {
        "prompt": {"type": "string", "title": "Prompt", "x-order": 0},
        "seed": {"type": "integer", "title": "Seed", "nullable": True, "x-order": 1},
        "scale": {"type": "number", "title": "Scale", "nullable": True, "x-order": 2},
        "options": {"type": "object", "title": "Options", "nullable": True, "x-order": 3},
        "anything": {"title": "Anything", "nullable": True, "x-order": 4},
        "weights": {
            "type": "array",
            "items": {"type": "number"},
            "title": "Weights",
            "nullable": True,
            "x-order": 5,
        },
    }
)

HOSTILE_BODIES = {
    "nan": '{"version": "%s", "input": {"prompt": "a", "scale": NaN}}',
    "infinity": '{"version": "%s", "input": {"prompt": "a", "scale": Infinity}}',
    "minus-infinity": '{"version": "%s", "input": {"prompt": "a", "scale": -Infinity}}',
    "overflowing-float": '{"version": "%s", "input": {"prompt": "a", "scale": 1e999}}',
    "5000-digit-integer": '{"version": "%s", "input": {"prompt": "a", "seed": ' + "9" * 5000 + "}}",
    "lone-surrogate": '{"version": "%s", "input": {"prompt": "\\ud800"}}',
    "lone-surrogate-key": '{"version": "%s", "input": {"prompt": "a", "options": {"\\udfff": 1}}}',
    "deep-nesting": '{"version": "%s", "input": {"prompt": "a", "options": {"x": '
    + "[" * 100_000
    + "]" * 100_000
    + "}}}",
}


@pytest.fixture
def version(cast):
    model = make_model(cast, "public", owner=cast.alice.user.account, name="painter")
    return add_version(model, "c" * 64, SCHEMA)


def api(client, person, method, path, body: str):
    return client.generic(
        method,
        path,
        body,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {person.token}",
    )


def assert_problem(response, statuses=(400,)):
    assert response.status_code in statuses, response.content[:500]
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == response.status_code and body["title"] and body["detail"]
    return body


@pytest.mark.parametrize("name", HOSTILE_BODIES)
def test_it_refuses_json_that_cannot_be_stored_when_creating_a_prediction(
    client, cast, version, name
):
    body = HOSTILE_BODIES[name].replace("%s", version.digest, 1)
    response = api(client, cast.alice, "POST", "/v1/predictions", body)
    assert_problem(response)
    response = api(client, cast.alice, "POST", "/v1/models/alice/painter/predictions", body)
    assert_problem(response)
    assert not Prediction.objects.exists()


def test_it_explains_what_is_wrong_with_the_json(client, cast, version):
    nested = HOSTILE_BODIES["deep-nesting"].replace("%s", version.digest, 1)
    detail = assert_problem(api(client, cast.alice, "POST", "/v1/predictions", nested))["detail"]
    assert "nested more than" in detail
    nan = HOSTILE_BODIES["nan"].replace("%s", version.digest, 1)
    detail = assert_problem(api(client, cast.alice, "POST", "/v1/predictions", nan))["detail"]
    assert "NaN" in detail


def test_it_still_takes_big_but_sane_numbers_and_nesting(client, cast, version):
    body = {
        "version": version.digest,
        "input": {"prompt": "a", "seed": 2**63, "scale": 1e300, "options": {"a": [[[1]]]}},
    }
    response = api(client, cast.alice, "POST", "/v1/predictions", json.dumps(body))
    assert response.status_code == 201, response.content
    assert response.json()["input"]["seed"] == 2**63


MODEL = '{"owner": "alice", "name": "x", "visibility": "public", "hardware": "cpu", '


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (MODEL + '"description": "\\ud800"}', "lone surrogate"),
        (MODEL + '"description": NaN}', "NaN is not a JSON number"),
        (MODEL + '"description": ' + "9" * 5000 + "}", "at most 300 digits"),
        (MODEL + '"description": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested more than"),
    ],
)
def test_it_refuses_such_json_on_typed_endpoints_too(client, cast, body, reason):
    assert reason in assert_problem(api(client, cast.alice, "POST", "/v1/models", body))["detail"]
    assert not Model.objects.exists()
    make_model(cast, owner=cast.alice.user.account, name="x")
    response = api(client, cast.alice, "PATCH", "/v1/models/alice/x", body)
    assert reason in assert_problem(response)["detail"]


@pytest.mark.parametrize(
    "value",
    ["2024-01-01T00:00:00+99:99", "2024-13-01T00:00:00Z", "2024-02-30T00:00:00", "garbage"],
)
def test_it_refuses_impossible_dates_in_list_filters(client, cast, value):
    for name in ("created_after", "created_before"):
        response = client.get(
            "/v1/predictions", {name: value}, HTTP_AUTHORIZATION=f"Bearer {cast.alice.token}"
        )
        assert name in assert_problem(response)["detail"]


# The playground's form


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("seed", "9" * 5000),
        ("scale", "1e999"),
        ("scale", "NaN"),
        ("weights", "1\ninf"),
        ("weights", "nan"),
        ("options", '{"a": "\\ud800"}'),
        ("options", '{"a": NaN}'),
        ("options", "[" * 100_000 + "]" * 100_000),
        ("anything", '"\\ud800"'),
        ("anything", '{"x": ' + "9" * 5000 + "}"),
    ],
)
def test_the_playground_gives_a_form_error_not_a_500(client_for, cast, version, field, value):
    client = client_for(cast.alice)
    response = client.post("/alice/painter/predictions", {"prompt": "a", field: value})
    assert response.status_code == 422
    html = response.content.decode()
    start = html.rindex('<div class="field', 0, html.index(f'for="id_{field}"'))
    assert 'class="error" role="alert"' in html[start : html.find('<div class="field', start + 1)]
    assert not Prediction.objects.exists()
