"""The prediction endpoints with the Django test client: shapes, validation, access."""

from __future__ import annotations

import json

import pytest

from apps.catalog.models import Model, Version
from apps.predictions.models import Prediction
from tests.catalog.factories import STEPS, STYLE, add_version, cog_schema, make_model, style_input

SCHEMA = cog_schema(
    {
        "prompt": {"type": "string", "title": "Prompt", "x-order": 0},
        "steps": STEPS,
        "style": style_input("a", 2),
        "seed": {"type": "integer", "title": "Seed", "nullable": True, "x-order": 3},
        "image": {"type": "string", "format": "uri", "title": "Image", "x-order": 4},
    },
    style=STYLE,
)


@pytest.fixture
def version(cast) -> Version:
    model = make_model(cast, "public", owner=cast.alice.user.account, name="painter")
    return add_version(model, "c" * 64, SCHEMA)


def post(client, person, body, path="/v1/predictions", **headers):
    return client.post(
        path,
        data=json.dumps(body) if not isinstance(body, str) else body,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {person.token}",
        **headers,
    )


def test_create_returns_201_with_the_prediction_and_location(client, cast, version):
    response = post(client, cast.alice, {"version": "c" * 64, "input": {"prompt": "cat"}})
    assert response.status_code == 201
    body = response.json()
    assert len(body["id"]) == 26 and body["id"].isalnum() and body["id"].islower()
    assert body["status"] == "starting"
    assert body["model"] == "alice/painter"
    assert body["version"] == "c" * 64
    assert body["input"] == {"prompt": "cat"}
    assert body["output"] is None and body["error"] is None and body["logs"] == ""
    assert body["source"] == "api"
    assert body["data_removed"] is False
    assert body["urls"]["get"] == f"http://testserver/v1/predictions/{body['id']}"
    assert body["urls"]["cancel"].endswith(f"/v1/predictions/{body['id']}/cancel")
    assert body["urls"]["web"] == f"http://testserver/p/{body['id']}"
    assert response["Location"] == body["urls"]["get"]
    assert Prediction.objects.get(pk=body["id"]).owner == cast.alice.user.account


@pytest.mark.parametrize("ref", ["alice/painter", "alice/painter:" + "c" * 64])
def test_version_may_be_named_by_model(client, cast, version, ref):
    response = post(client, cast.alice, {"version": ref, "input": {"prompt": "x"}})
    assert response.status_code == 201
    assert response.json()["version"] == "c" * 64


def test_the_models_endpoint_runs_the_latest_version(client, cast, version):
    response = post(
        client, cast.bob, {"input": {"prompt": "x"}}, path="/v1/models/alice/painter/predictions"
    )
    assert response.status_code == 201
    assert response.json()["version"] == version.digest


@pytest.mark.parametrize(
    ("body", "field", "kind"),
    [
        ({"version": "c" * 64, "input": {}}, "input", "required"),
        ({"version": "c" * 64, "input": {"prompt": "x", "steps": 11}}, "input.steps", "number_lte"),
        (
            {"version": "c" * 64, "input": {"prompt": "x", "steps": "3"}},
            "input.steps",
            "invalid_type",
        ),
        ({"version": "c" * 64, "input": {"prompt": "x", "style": "z"}}, "input.style", "enum"),
        ({"version": "c" * 64, "input": {"prompt": 1}}, "input.prompt", "invalid_type"),
        (
            {"version": "c" * 64, "input": {"prompt": "x"}, "model": "y"},
            "",
            "additional_property_not_allowed",
        ),
        ({"input": {"prompt": "x"}}, "", "required"),
    ],
)
def test_invalid_bodies_get_422_with_invalid_fields(client, cast, version, body, field, kind):
    response = post(client, cast.alice, body)
    assert response.status_code == 422
    assert response["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert problem["title"] == "Input validation failed"
    assert {"type": kind, "field": field} in [
        {"type": f["type"], "field": f["field"]} for f in problem["invalid_fields"]
    ]
    assert problem["detail"].startswith("- ")
    assert not Prediction.objects.exists()


def test_nullable_inputs_accept_null(client, cast, version):
    response = post(
        client, cast.alice, {"version": "c" * 64, "input": {"prompt": "x", "seed": None}}
    )
    assert response.status_code == 201


def test_malformed_json_is_a_400_problem(client, cast, version):
    response = post(client, cast.alice, "{not json")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"


@pytest.mark.parametrize("ref", ["d" * 64, "alice/nope", "alice/painter:" + "d" * 64, "x", None])
def test_unknown_versions_are_422_invalid_version(client, cast, version, ref):
    response = post(client, cast.alice, {"version": ref, "input": {"prompt": "x"}})
    assert response.status_code == 422
    assert response.json()["title"] == "Invalid version or not permitted"


def test_private_versions_are_invalid_for_outsiders(client, cast, version):
    Model.objects.filter(pk=version.model_id).update(visibility="private")
    assert (
        post(client, cast.charlie, {"version": "c" * 64, "input": {"prompt": "x"}}).status_code
        == 422
    )
    assert (
        post(
            client,
            cast.charlie,
            {"input": {"prompt": "x"}},
            path="/v1/models/alice/painter/predictions",
        ).status_code
        == 404
    )
    assert (
        post(client, cast.alice, {"version": "c" * 64, "input": {"prompt": "x"}}).status_code == 201
    )


@pytest.mark.parametrize("prefer", ["wait=0", "wait=999", "wait=abc", "sleep"])
def test_bad_prefer_headers_are_refused(client, cast, version, prefer):
    response = post(
        client, cast.alice, {"version": "c" * 64, "input": {"prompt": "x"}}, HTTP_PREFER=prefer
    )
    assert response.status_code == 400
    assert "Prefer" in response.json()["detail"]


@pytest.mark.parametrize(
    ("header", "ok"),
    [("30", True), ("1h30m", True), ("90s", True), ("2", False), ("25h", False), ("soon", False)],
)
def test_cancel_after_sets_a_deadline(client, cast, version, header, ok):
    response = post(
        client,
        cast.alice,
        {"version": "c" * 64, "input": {"prompt": "x"}},
        HTTP_CANCEL_AFTER=header,
    )
    assert response.status_code == (201 if ok else 400)
    if ok:
        assert response.json()["deadline"].endswith("Z")


def test_webhook_options_are_checked_and_echoed(client, cast, version):
    body = {"version": "c" * 64, "input": {"prompt": "x"}, "webhook": "https://example.com/hook"}
    bad = post(client, cast.alice, {**body, "webhook_events_filter": ["start", "nope"]})
    assert bad.status_code == 422
    good = post(client, cast.alice, {**body, "webhook_events_filter": ["completed"]})
    assert good.json()["webhook"] == "https://example.com/hook"
    assert good.json()["webhook_events_filter"] == ["completed"]


def test_get_list_and_cancel_are_scoped_to_the_account(client, cast, version):
    created = post(client, cast.alice, {"version": "c" * 64, "input": {"prompt": "x"}}).json()
    url = f"/v1/predictions/{created['id']}"
    assert client.get(url, **cast.alice.auth()).json()["id"] == created["id"]
    assert client.get(url, **cast.charlie.auth()).status_code == 404
    assert client.get(url, **cast.bob.auth()).status_code == 404  # alice's own, not acme's
    assert client.post(url + "/cancel", **cast.charlie.auth()).status_code == 404
    assert client.get("/v1/predictions", **cast.charlie.auth()).json()["results"] == []
    listed = client.get("/v1/predictions", **cast.alice.auth()).json()
    assert [p["id"] for p in listed["results"]] == [created["id"]]


def test_cancel_before_a_worker_takes_it(client, cast, version):
    created = post(client, cast.alice, {"version": "c" * 64, "input": {"prompt": "x"}}).json()
    response = client.post(f"/v1/predictions/{created['id']}/cancel", **cast.alice.auth())
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "canceled"
    assert body["completed_at"] is not None
    again = client.post(f"/v1/predictions/{created['id']}/cancel", **cast.alice.auth())
    assert again.json()["status"] == "canceled"  # a finished prediction stays as it is


def test_list_paginates_newest_first_with_absolute_cursor_links(client, cast, version, settings):
    settings.API_PAGE_SIZE = 2
    ids = [
        post(client, cast.alice, {"version": "c" * 64, "input": {"prompt": str(i)}}).json()["id"]
        for i in range(5)
    ]
    seen, url, pages = [], "/v1/predictions", []
    while url:
        page = client.get(url, **cast.alice.auth()).json()
        pages.append(page)
        seen += [p["id"] for p in page["results"]]
        url = page["next"]
        if url:
            assert url.startswith("http://testserver/v1/predictions?cursor=")
    assert seen == list(reversed(ids))
    assert pages[0]["previous"] is None
    back = client.get(pages[1]["previous"], **cast.alice.auth()).json()
    assert [p["id"] for p in back["results"]] == seen[:2]


def test_list_filters(client, cast, version):
    post(client, cast.alice, {"version": "c" * 64, "input": {"prompt": "x"}})
    auth = cast.alice.auth()
    assert len(client.get("/v1/predictions?source=web", **auth).json()["results"]) == 0
    assert client.get("/v1/predictions?source=api", **auth).status_code == 400
    assert (
        len(
            client.get("/v1/predictions?created_after=2020-01-01T00:00:00Z", **auth).json()[
                "results"
            ]
        )
        == 1
    )
    assert (
        len(
            client.get("/v1/predictions?created_before=2020-01-01T00:00:00Z", **auth).json()[
                "results"
            ]
        )
        == 0
    )
    assert client.get("/v1/predictions?created_after=yesterday", **auth).status_code == 400
    assert client.get("/v1/predictions?cursor=garbage", **auth).status_code == 400


def test_rate_limits_answer_429_with_retry_after(client, cast, version, settings):
    settings.RATE_LIMIT_CREATE_PER_MINUTE = 2
    from apps.core.redis import client as redis_client

    for key in redis_client().scan_iter("selfrep:ratelimit:*"):
        redis_client().delete(key)
    statuses = [
        post(client, cast.charlie, {"version": "c" * 64, "input": {"prompt": "x"}}).status_code
        for _ in range(3)
    ]
    assert statuses[:2] == [201, 201]
    limited = post(client, cast.charlie, {"version": "c" * 64, "input": {"prompt": "x"}})
    assert limited.status_code == 429
    assert int(limited["Retry-After"]) >= 1
    assert limited["Content-Type"] == "application/problem+json"
    assert client.get("/v1/predictions", **cast.charlie.auth()).status_code == 200


def test_responses_match_the_published_contract(client, cast, version):
    from tests.openapi import assert_response_matches

    created = post(client, cast.alice, {"version": "c" * 64, "input": {"prompt": "x"}})
    assert_response_matches(created, "POST", "/predictions")
    prediction_id = created.json()["id"]
    got = client.get(f"/v1/predictions/{prediction_id}", **cast.alice.auth())
    assert_response_matches(got, "GET", "/predictions/{prediction_id}")
    listed = client.get("/v1/predictions", **cast.alice.auth())
    assert_response_matches(listed, "GET", "/predictions")
    canceled = client.post(f"/v1/predictions/{prediction_id}/cancel", **cast.alice.auth())
    assert_response_matches(canceled, "POST", "/predictions/{prediction_id}/cancel")
    by_model = post(
        client, cast.alice, {"input": {"prompt": "x"}}, path="/v1/models/alice/painter/predictions"
    )
    assert_response_matches(by_model, "POST", "/models/{model_owner}/{model_name}/predictions")


def test_an_oversized_body_is_a_413_problem(client, cast, version, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    response = post(client, cast.alice, {"version": "c" * 64, "input": {"prompt": "x" * 5000}})
    assert response.status_code == 413
    assert response["Content-Type"] == "application/problem+json"
    assert "files API" in response.json()["detail"]


def test_nul_characters_in_input_are_refused_not_a_500(client, cast, version):
    response = post(client, cast.alice, {"version": "c" * 64, "input": {"prompt": "a\u0000b"}})
    assert response.status_code == 422
    assert "NUL" in response.json()["detail"]


@pytest.mark.parametrize(
    ("raw", "descriptions"),
    [
        ("", ["input is required", "version is required"]),
        ("[1]", ["the request body must be a JSON object"]),
        (
            '{"version": "x", "input": {}, "signal": 1}',
            ["Additional property signal is not allowed"],
        ),
    ],
)
def test_the_body_itself_is_checked_first_in_replicates_words(
    client, cast, version, raw, descriptions
):
    response = post(client, cast.alice, raw, HTTP_PREFER="sleep")  # the header comes later
    assert response.status_code == 422
    problem = response.json()
    assert [f["description"] for f in problem["invalid_fields"]] == descriptions
    assert {f["field"] for f in problem["invalid_fields"]} == {""}
    assert problem["detail"] == "".join(f"- {d}\n" for d in descriptions)


def test_the_models_endpoint_takes_no_version(client, cast, version):
    body = {"version": "c" * 64, "input": {"prompt": "x"}}
    response = post(client, cast.alice, body, path="/v1/models/alice/painter/predictions")
    assert response.status_code == 422
    assert response.json()["detail"] == "- Additional property version is not allowed\n"


def test_a_legacy_webhook_completed_is_a_webhook_for_completion_only(client, cast, version):
    body = {"version": "c" * 64, "input": {"prompt": "x"}, "webhook_completed": "https://e.com/h"}
    created = post(client, cast.alice, body).json()
    assert created["webhook"] == "https://e.com/h"
    assert created["webhook_events_filter"] == ["completed"]


def test_the_openapi_document_describes_the_create_bodies(client):
    document = client.get("/v1/openapi.json").json()

    def body_schema(path):
        body = document["paths"][path]["post"]["requestBody"]
        assert body["required"] is True
        ref = body["content"]["application/json"]["schema"]["$ref"]
        return document["components"]["schemas"][ref.rsplit("/", 1)[1]]

    by_version = body_schema("/v1/predictions")
    assert by_version["required"] == ["input", "version"]
    assert by_version["additionalProperties"] is False
    assert by_version["properties"]["input"]["type"] == "object"
    assert by_version["properties"]["webhook_events_filter"]["items"]["enum"] == [
        "completed",
        "logs",
        "output",
        "start",
    ]
    by_model = body_schema("/v1/models/{owner}/{name}/predictions")
    assert by_model["required"] == ["input"]
    assert "version" not in by_model["properties"]
