"""The /v1/deployments endpoints without running anything: shapes, releases, and every bad
input answered with a 4xx problem."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.core.queue import broker
from apps.deployments.models import Deployment, Instance
from apps.predictions.models import Prediction
from tests.catalog.factories import add_version, make_model

PROBLEM = "application/problem+json"


@pytest.fixture
def world(cast):
    model = make_model(cast, owner=cast.acme.account, name="painter")
    v1 = add_version(model, digest="a" * 64)
    v2 = add_version(model, digest="b" * 64)
    secret = make_model(cast, owner=cast.charlie.user.account, name="hidden")
    add_version(secret, digest="c" * 64)
    yield {"model": model, "v1": v1, "v2": v2}
    broker.flush("deployment.acme.web")


def body(**fields):
    return {
        "name": "web",
        "model": "acme/painter",
        "version": "a" * 64,
        "hardware": "cpu",
        "min_instances": 0,
        "max_instances": 2,
        **fields,
    }


def post(client, token, path, data):
    return client.post(
        f"/v1{path}", data, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}"
    )


def patch(client, token, path, data):
    return client.patch(
        f"/v1{path}", data, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}"
    )


def test_create_get_list_as_replicate_shows_them(client, cast, world):
    created = post(client, cast.acme_token, "/deployments", body())
    assert created.status_code == 200, created.content
    deployment = created.json()
    assert deployment["owner"] == "acme" and deployment["name"] == "web"
    release = deployment["current_release"]
    assert release["number"] == 1
    assert release["model"] == "acme/painter"
    assert release["version"] == "a" * 64
    assert release["configuration"] == {"hardware": "cpu", "min_instances": 0, "max_instances": 2}
    assert release["created_by"]["username"] == "acme"
    assert release["created_at"].endswith("Z")

    got = client.get("/v1/deployments/acme/web", **cast.bob.auth())  # a member's token
    assert got.status_code == 200 and got.json() == deployment
    listed = client.get("/v1/deployments", HTTP_AUTHORIZATION=f"Bearer {cast.acme_token}").json()
    assert [d["name"] for d in listed["results"]] == ["web"]
    assert client.get("/v1/deployments", **cast.charlie.auth()).json()["results"] == []


def test_the_version_defaults_to_the_latest_and_owner_prefixes_are_taken(client, cast, world):
    created = post(client, cast.alice.token, "/deployments", body(name="acme/web", version=None))
    assert created.status_code == 200, created.content
    assert created.json()["owner"] == "acme"
    assert created.json()["current_release"]["version"] == "b" * 64


@pytest.mark.parametrize(
    ("fields", "status", "field", "says"),
    [
        ({"model": "charlie/hidden"}, 422, "model", "no model charlie/hidden"),
        ({"model": "acme/nothing"}, 422, "model", "no model acme/nothing"),
        ({"model": 7}, 422, "model", "owner/name"),
        ({"version": "f" * 64}, 422, "version", "has no version"),
        ({"version": "latest"}, 422, "version", "64 hex"),
        ({"hardware": "tpu-v9"}, 422, "hardware", "Unknown hardware 'tpu-v9'"),
        ({"hardware": "gpu-t4"}, 422, "hardware", "needs 1 GPU"),
        ({"min_instances": 3, "max_instances": 1}, 422, "min_instances", "cannot be more"),
        ({"max_instances": 21}, 422, "max_instances", "from 0 to 20"),
        ({"min_instances": 6, "max_instances": 10}, 422, "min_instances", "from 0 to 5"),
        ({"min_instances": "1"}, 422, "min_instances", "whole number"),
        ({"max_instances": True}, 422, "max_instances", "whole number"),
        ({"name": "Bad Name!"}, 422, "name", "lowercase"),
    ],
)
def test_bad_input_is_a_problem_that_names_the_field(
    client, cast, world, fields, status, field, says
):
    response = post(client, cast.acme_token, "/deployments", body(**fields))
    assert response.status_code == status, response.content
    assert response.headers["Content-Type"] == PROBLEM
    problem = response.json()
    assert says in problem["detail"]
    assert problem["invalid_fields"][0]["field"] == field
    assert not Deployment.objects.exists()


def test_a_taken_name_and_someone_elses_namespace_are_refused(client, cast, world):
    assert post(client, cast.acme_token, "/deployments", body()).status_code == 200
    again = post(client, cast.acme_token, "/deployments", body())
    assert (
        again.status_code == 409 and "already has a deployment named web" in again.json()["detail"]
    )
    elsewhere = post(client, cast.charlie.token, "/deployments", body(name="acme/other"))
    assert elsewhere.status_code == 422
    assert Deployment.objects.count() == 1


def test_a_missing_field_or_unknown_key_is_a_422(client, cast, world):
    fields = body()
    del fields["hardware"]
    assert post(client, cast.acme_token, "/deployments", fields).status_code == 422
    assert post(client, cast.acme_token, "/deployments", body(color="red")).status_code == 422
    assert post(client, cast.acme_token, "/deployments", [1, 2]).status_code in (400, 422)


def test_every_update_is_a_new_release_and_nothing_to_change_is_refused(client, cast, world):
    post(client, cast.acme_token, "/deployments", body())
    updated = patch(client, cast.acme_token, "/deployments/acme/web", {"version": "b" * 64})
    assert updated.status_code == 200, updated.content
    assert updated.json()["current_release"]["number"] == 2
    assert updated.json()["current_release"]["version"] == "b" * 64

    scaled = patch(client, cast.acme_token, "/deployments/acme/web", {"max_instances": 4})
    assert scaled.json()["current_release"]["number"] == 3
    assert scaled.json()["current_release"]["version"] == "b" * 64  # the rest is kept

    for nothing in ({}, {"max_instances": 4}):
        refused = patch(client, cast.acme_token, "/deployments/acme/web", nothing)
        assert refused.status_code == 400
        assert "Nothing to change" in refused.json()["detail"]
    bad = patch(client, cast.acme_token, "/deployments/acme/web", {"min_instances": 5})
    assert bad.status_code == 422 and bad.json()["invalid_fields"][0]["field"] == "min_instances"
    assert Deployment.objects.get(name="web").releases.count() == 3


def test_outsiders_get_404_for_every_route(client, cast, world):
    post(client, cast.acme_token, "/deployments", body())
    auth = cast.charlie.auth()
    assert client.get("/v1/deployments/acme/web", **auth).status_code == 404
    assert (
        patch(client, cast.charlie.token, "/deployments/acme/web", {"max_instances": 1}).status_code
        == 404
    )
    assert client.delete("/v1/deployments/acme/web", **auth).status_code == 404
    run = post(client, cast.charlie.token, "/deployments/acme/web/predictions", {"input": {}})
    assert run.status_code == 404
    assert client.get("/v1/deployments/acme/web").status_code == 401
    assert Deployment.objects.get(name="web").current_release.number == 1


def test_predictions_run_on_the_current_release_and_a_disabled_deployment_refuses(
    client, cast, world
):
    post(client, cast.acme_token, "/deployments", body())
    created = post(
        client, cast.acme_token, "/deployments/acme/web/predictions", {"input": {"prompt": "x"}}
    )
    assert created.status_code == 201, created.content
    prediction = created.json()
    assert prediction["deployment"] == "acme/web"
    assert prediction["version"] == "a" * 64
    assert prediction["status"] == "starting"
    invalid = post(client, cast.acme_token, "/deployments/acme/web/predictions", {"input": {}})
    assert invalid.status_code == 422  # `prompt` is required by the version's schema

    # max 0 disables it: what was queued is canceled and new ones are refused.
    patch(client, cast.acme_token, "/deployments/acme/web", {"max_instances": 0})
    assert Prediction.objects.get(pk=prediction["id"]).status == "canceled"
    refused = post(
        client, cast.acme_token, "/deployments/acme/web/predictions", {"input": {"prompt": "x"}}
    )
    assert refused.status_code == 409
    assert refused.headers["Content-Type"] == PROBLEM
    assert "disabled" in refused.json()["detail"]


def test_delete_only_when_offline_and_unused(client, cast, world, settings):
    post(client, cast.acme_token, "/deployments", body())
    deployment = Deployment.objects.get(name="web")
    instance = Instance.objects.create(
        deployment=deployment, release=deployment.current_release, host="h", worker_id="w1"
    )
    online = client.delete(
        "/v1/deployments/acme/web", HTTP_AUTHORIZATION=f"Bearer {cast.acme_token}"
    )
    assert online.status_code == 409 and "instances online" in online.json()["detail"]

    instance.state = Instance.State.STOPPED
    instance.save()
    Deployment.objects.filter(pk=deployment.pk).update(last_prediction_at=timezone.now())
    recent = client.delete(
        "/v1/deployments/acme/web", HTTP_AUTHORIZATION=f"Bearer {cast.acme_token}"
    )
    assert recent.status_code == 409 and "last 15 minutes" in recent.json()["detail"]

    Deployment.objects.filter(pk=deployment.pk).update(
        last_prediction_at=timezone.now() - timedelta(minutes=16)
    )
    gone = client.delete("/v1/deployments/acme/web", HTTP_AUTHORIZATION=f"Bearer {cast.acme_token}")
    assert gone.status_code == 204
    assert not Deployment.objects.exists()
