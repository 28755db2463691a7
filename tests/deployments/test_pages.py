"""The deployment pages with the Django test client: the list, Create (each problem beside
its field), a deployment's page (instances, charts, code, Run, releases) and its posts
(settings, roll back, disable, delete), and who may see and do what."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from html import unescape

import pytest
from django.db import transaction
from django.utils import timezone

from apps.accounts.models import Account
from apps.deployments import services
from apps.deployments.models import Deployment, Instance, MinuteMetric, Release
from apps.predictions.models import Prediction
from tests.catalog.factories import add_version, make_model

DIGEST_1, DIGEST_2 = "1" * 64, "2" * 64


@pytest.fixture(autouse=True)
def no_gpus_here(settings):
    settings.INSTANCE_GPUS = 0
    settings.INSTANCE_CPUS = 16
    settings.INSTANCE_MEMORY_GB = 64


@pytest.fixture
def sauce(cast):
    """acme/secret-sauce, private, with two versions (the second is the latest)."""
    model = make_model(cast)
    add_version(model, digest=DIGEST_1)
    add_version(model, digest=DIGEST_2)
    return model


def deploy(cast, model, name="prod", *, min_instances=0, max_instances=2, digest=DIGEST_2):
    config = services.check_config(
        services.resolve_version(model, digest),
        services.resolve_hardware("cpu"),
        min_instances,
        max_instances,
    )
    return services.deployment_create(
        owner=cast.acme.account,
        name=name,
        model=model,
        config=config,
        by=cast.alice.user.account,
        user=cast.alice.user,
    )


def start_instance(deployment, state=Instance.State.IDLE, host="box-1") -> Instance:
    return Instance.objects.create(
        deployment=deployment,
        release=deployment.current_release,
        state=state,
        host=host,
        worker_id=uuid.uuid4().hex,
        started_at=timezone.now() - timedelta(seconds=125),
    )


def queue_prediction(cast, deployment) -> Prediction:
    with transaction.atomic():
        return services.deployment_predict(
            deployment, owner=cast.acme.account, input={"prompt": "hi"}, created_by=cast.bob.user
        )


def htmx(**headers) -> dict[str, str]:
    return {"HTTP_HX_REQUEST": "true", **headers}


def fields_of(html: str) -> dict[str, str]:
    """Each form field's block (templates/_field.html, predictions/_input_field.html) by the
    name of its input, so a test can say that an error is beside a field."""
    blocks = {}
    for block in re.split(r'<div class="field', html)[1:]:
        block = block.split('<div class="field', 1)[0]
        for name in re.findall(r'name="([^"]+)"', block):
            blocks.setdefault(name, block)
    return blocks


def errors_beside(html: str, field: str) -> list[str]:
    block = fields_of(html)[field]
    return [unescape(e) for e in re.findall(r'<p class="error" role="alert">(.*?)</p>', block)]


CREATE_FORM = {
    "owner": "acme",
    "name": "prod",
    "model": "acme/secret-sauce",
    "version": "",
    "hardware": "cpu",
    "min_instances": "0",
    "max_instances": "2",
}


# The list


def test_it_lists_the_working_accounts_deployments_with_their_state(client_for, cast, sauce):
    prod = deploy(cast, sauce)
    start_instance(prod)
    start_instance(prod, Instance.State.BUSY, host="box-2")
    deploy(cast, sauce, "idle")
    off = deploy(cast, sauce, "off")
    services.deployment_set_disabled(off, True)
    waiting = deploy(cast, sauce, "waiting")
    Deployment.objects.filter(pk=waiting.pk).update(
        scaling_note="waiting for capacity: 1 more instance(s) of cpu wanted"
    )
    client = client_for(cast.bob)
    html = client.get("/deployments?account=acme").content.decode()
    assert 'href="/deployments/acme/prod"' in html
    assert "2 online" in html and "Scaled to zero" in html
    assert "Disabled" in html and "Waiting for capacity" in html
    assert "acme/secret-sauce" in html and "#1" in html and "CPU" in html


def test_the_list_shows_one_account_or_all_of_them(client_for, cast, sauce):
    deploy(cast, sauce)
    client = client_for(cast.bob)
    assert "acme/prod" not in client.get("/deployments?account=bob").content.decode()
    assert "acme/prod" in client.get("/deployments?all=1").content.decode()
    assert "No deployments" in client.get("/deployments?account=bob").content.decode()


def test_outsiders_see_neither_the_list_nor_the_page(client_for, client, cast, sauce):
    deploy(cast, sauce)
    response = client.get("/deployments")
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    charlie = client_for(cast.charlie)
    assert charlie.get("/deployments?account=acme").status_code == 404
    assert "acme/prod" not in charlie.get("/deployments?all=1").content.decode()
    assert charlie.get("/deployments/acme/prod").status_code == 404
    assert charlie.get("/deployments/acme/prod/instances").status_code == 404


def test_the_navigation_links_deployments_for_people_logged_in(client_for, client, cast):
    assert 'href="/deployments"' not in client.get("/explore").content.decode()
    html = client_for(cast.alice).get("/deployments").content.decode()
    assert '<a href="/deployments" aria-current="page">Deployments</a>' in html


# Create


def test_the_create_page_is_filled_in_from_the_deploy_link(client_for, cast, sauce):
    client = client_for(cast.alice)
    response = client.get(
        f"/deployments/create?model=acme/secret-sauce&version={DIGEST_1}&account=acme"
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert 'value="acme/secret-sauce"' in html
    assert f'value="{DIGEST_1}"' in html
    assert 'name="name" value="secret-sauce"' in html
    assert '<option value="acme" selected>acme</option>' in html
    assert "$0.36/hour" in html  # cpu, per instance
    assert "gpu-t4" in html and "cannot run on this installation" in html


def test_the_owner_can_only_be_one_of_your_accounts(client_for, cast, sauce):
    client = client_for(cast.charlie)
    html = client.get("/deployments/create").content.decode()
    assert '<option value="charlie" selected>charlie</option>' in html
    assert 'value="acme"' not in html
    response = client.post("/deployments/create", CREATE_FORM)
    assert response.status_code == 422
    assert errors_beside(response.content.decode(), "owner")
    assert not Deployment.objects.exists()


def test_creating_a_deployment_makes_release_1_and_goes_to_its_page(client_for, cast, sauce):
    client = client_for(cast.bob)
    response = client.post("/deployments/create", {**CREATE_FORM, "version": DIGEST_1})
    assert response.status_code == 302
    assert response["Location"] == "/deployments/acme/prod"
    deployment = Deployment.objects.get(name="prod")
    assert deployment.owner == cast.acme.account
    release = deployment.current_release
    assert release.number == 1 and release.version.digest == DIGEST_1
    assert (release.hardware.sku, release.min_instances, release.max_instances) == ("cpu", 0, 2)
    assert release.created_by == cast.bob.user
    page = client.get(response["Location"]).content.decode()
    assert "acme/prod is deployed: release 1." in page


def test_without_a_version_the_latest_is_deployed(client_for, cast, sauce):
    client_for(cast.alice).post("/deployments/create", CREATE_FORM)
    assert Deployment.objects.get().current_release.version.digest == DIGEST_2


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"model": "acme/nothing"}, "model", "There is no model acme/nothing that acme may run."),
        ({"model": "charlie/hidden"}, "model", "There is no model charlie/hidden"),
        ({"model": "just-a-name"}, "model", "model must be given as owner/name."),
        ({"version": "f" * 64}, "version", "has no version"),
        ({"version": "v1"}, "version", "version must be a version id"),
        ({"min_instances": "3", "max_instances": "1"}, "min_instances", "cannot be more than"),
        ({"max_instances": "21"}, "max_instances", "must be from 0 to 20"),
        ({"min_instances": "6"}, "min_instances", "must be from 0 to 5"),
        ({"hardware": "tpu-9000"}, "hardware", "Unknown hardware 'tpu-9000'"),
        ({"hardware": "gpu-t4"}, "hardware", "gpu-t4 needs 1 GPU(s)"),
        ({"name": "Not A Name!"}, "name", "name must be lowercase letters"),
    ],
)
def test_each_problem_shows_beside_its_field(client_for, cast, sauce, changes, field, message):
    hidden = make_model(cast, owner=cast.charlie.user.account, name="hidden")
    add_version(hidden, digest="c" * 64)
    response = client_for(cast.alice).post("/deployments/create", {**CREATE_FORM, **changes})
    html = response.content.decode()
    assert response.status_code == 422
    assert any(message in error for error in errors_beside(html, field)), fields_of(html)[field]
    assert not Deployment.objects.exists()
    # What was typed stays in the form (an unknown SKU has no option to select).
    for value in changes.values():
        if value != "tpu-9000":
            assert f'value="{value}"' in html or f'<option value="{value}" selected' in html


def test_a_taken_name_is_refused_beside_the_name(client_for, cast, sauce):
    deploy(cast, sauce)
    response = client_for(cast.alice).post("/deployments/create", CREATE_FORM)
    assert response.status_code == 422
    assert errors_beside(response.content.decode(), "name") == [
        "acme already has a deployment named prod."
    ]
    assert Deployment.objects.count() == 1


def test_problems_in_several_fields_show_at_once(client_for, cast, sauce):
    response = client_for(cast.alice).post(
        "/deployments/create", {**CREATE_FORM, "hardware": "nope", "max_instances": "99"}
    )
    html = response.content.decode()
    assert errors_beside(html, "hardware") and errors_beside(html, "max_instances")


def test_the_cost_estimate_follows_the_fields(client_for, cast):
    client = client_for(cast.alice)
    html = client.get(
        "/deployments/estimate?hardware=cpu&min_instances=1&max_instances=3", **htmx()
    ).content.decode()
    assert "$0.36/hour" in html and "$1.08/hour" in html and "<html" not in html
    html = client.get("/deployments/estimate?hardware=&min_instances=x").content.decode()
    assert "Choose hardware" in html


# A deployment's page


def test_the_page_shows_instances_charts_code_run_and_releases(client_for, cast, sauce):
    deployment = deploy(cast, sauce)
    start_instance(deployment, Instance.State.BUSY, host="box-7")
    minute = timezone.now().replace(second=0, microsecond=0)
    for ago in range(1, 6):
        MinuteMetric.objects.create(
            deployment=deployment,
            minute=minute - timedelta(minutes=ago),
            arrivals=ago,
            completions=ago,
            latency_p50=0.5,
            latency_p95=2.0,
            instances=1.0,
        )
    prediction = queue_prediction(cast, deployment)
    response = client_for(cast.bob).get("/deployments/acme/prod")
    html = response.content.decode()
    assert response.status_code == 200
    # Instances, live
    assert 'hx-get="/deployments/acme/prod/instances" hx-trigger="every 2s"' in html
    assert "box-7" in html and "Busy" in html and "2m 05s" in html
    assert "<strong>1</strong> waiting" in html
    # Charts, as SVG with axis labels
    assert html.count("<svg") == 3 and "<polyline" in html
    assert "Predictions per minute" in html and "p95" in html and "Instances online" in html
    assert "15 arrived, 15 succeeded, 0 failed" in html
    assert '<text class="tick-y"' in html and re.search(
        r'<text class="tick-x"[^>]*>\d\d:\d\d<', html
    )
    # Code for the API
    assert "replicate.deployments.get(&quot;acme/prod&quot;)" in html
    assert "replicate.deployments.predictions.create(" in html
    assert "/v1/deployments/acme/prod/predictions" in html
    assert "no /v1: the client adds it" in html
    # Run, from the release's inputs
    assert 'action="/deployments/acme/prod/predictions"' in html and 'name="prompt"' in html
    # Recent predictions and releases
    assert f'href="/p/{prediction.id}"' in html
    assert "#1" in html and DIGEST_2[:12] in html


def test_the_instances_fragment_shows_backlog_and_the_scaling_note(client_for, cast, sauce):
    deployment = deploy(cast, sauce)
    queue_prediction(cast, deployment)
    queue_prediction(cast, deployment)
    Deployment.objects.filter(pk=deployment.pk).update(
        scaling_note="waiting for capacity: 1 more instance(s) of cpu wanted"
    )
    html = client_for(cast.alice).get("/deployments/acme/prod/instances", **htmx()).content.decode()
    assert html.lstrip().startswith('<section class="card instances" id="instances"')
    assert 'hx-trigger="every 2s"' in html
    assert "<strong>2</strong> waiting" in html
    assert "waiting for capacity: 1 more instance(s) of cpu wanted" in html
    assert "No instances online." in html


def test_the_charts_switch_to_the_last_day(client_for, cast, sauce):
    deployment = deploy(cast, sauce)
    MinuteMetric.objects.create(
        deployment=deployment,
        minute=timezone.now().replace(second=0, microsecond=0) - timedelta(hours=5),
        arrivals=30,
        completions=30,
        latency_p50=1.0,
        latency_p95=3.0,
        instances=2.0,
    )
    client = client_for(cast.alice)
    hour = client.get("/deployments/acme/prod").content.decode()
    assert "0 arrived" in hour and "No data in this window yet" in hour
    day = client.get("/deployments/acme/prod?window=day", **htmx(HTTP_HX_TARGET="charts"))
    html = day.content.decode()
    assert html.lstrip().startswith('<section class="card charts" id="charts"')
    assert "30 arrived, 30 succeeded" in html and "at most 3s" in html


def test_anonymous_visitors_are_sent_to_log_in(client, cast, sauce):
    deploy(cast, sauce)
    response = client.get("/deployments/acme/prod")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_outsiders_can_post_nothing(client_for, cast, sauce):
    deployment = deploy(cast, sauce)
    client = client_for(cast.charlie)
    posts = {
        "predictions": {"prompt": "hi"},
        "settings": {
            "version": DIGEST_1,
            "hardware": "cpu",
            "min_instances": "0",
            "max_instances": "3",
        },
        "rollback": {"number": "1"},
        "disable": {"disabled": "1"},
        "delete": {},
    }
    for action, data in posts.items():
        assert client.post(f"/deployments/acme/prod/{action}", data).status_code == 404, action
    deployment.refresh_from_db()
    assert not deployment.disabled and deployment.releases.count() == 1
    assert not Prediction.objects.exists()


# Run


def test_run_creates_a_prediction_on_the_deployment(client_for, cast, sauce):
    deploy(cast, sauce)
    response = client_for(cast.bob).post("/deployments/acme/prod/predictions", {"prompt": "go"})
    prediction = Prediction.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/p/{prediction.id}"
    assert prediction.deployment == "acme/prod"
    assert prediction.source == Prediction.Source.WEB
    assert prediction.owner == cast.acme.account and prediction.created_by == cast.bob.user
    assert prediction.version.digest == DIGEST_2 and prediction.input["prompt"] == "go"


def test_invalid_run_input_shows_beside_its_field(client_for, cast, sauce):
    deploy(cast, sauce)
    response = client_for(cast.bob).post(
        "/deployments/acme/prod/predictions", {"prompt": "go", "steps": "99"}
    )
    assert response.status_code == 422
    assert errors_beside(response.content.decode(), "steps")
    assert not Prediction.objects.exists()


def test_a_disabled_deployment_runs_nothing(client_for, cast, sauce):
    deployment = deploy(cast, sauce)
    services.deployment_set_disabled(deployment, True)
    client = client_for(cast.bob)
    assert (
        "Enable the deployment to run it." in client.get("/deployments/acme/prod").content.decode()
    )
    response = client.post("/deployments/acme/prod/predictions", {"prompt": "go"})
    assert response.status_code == 409
    assert "acme/prod is disabled" in response.content.decode()
    assert not Prediction.objects.exists()


# Releases: settings and roll back


SETTINGS = {"version": DIGEST_2, "hardware": "cpu", "min_instances": "0", "max_instances": "2"}


def test_settings_make_release_2_and_the_page_shows_what_changed(client_for, cast, sauce):
    deploy(cast, sauce)
    client = client_for(cast.alice)
    response = client.post(
        "/deployments/acme/prod/settings",
        {**SETTINGS, "version": DIGEST_1, "max_instances": "5"},
    )
    assert response.status_code == 302
    deployment = Deployment.objects.get()
    release = deployment.current_release
    assert release.number == 2 and release.max_instances == 5
    assert release.version.digest == DIGEST_1 and release.created_by == cast.alice.user
    html = client.get("/deployments/acme/prod").content.decode()
    assert "Release 2 is now current." in html
    assert "Max instances: <del>2</del> → <ins>5</ins>" in html
    assert f"Version: <del>{DIGEST_2[:12]}</del> → <ins>{DIGEST_1[:12]}</ins>" in html
    assert "Hardware: <del>" not in html
    assert "Roll back to #1" in html and "Roll back to #2" not in html


def test_settings_problems_show_beside_their_fields(client_for, cast, sauce):
    deploy(cast, sauce)
    client = client_for(cast.alice)
    response = client.post("/deployments/acme/prod/settings", {**SETTINGS, "max_instances": "50"})
    assert response.status_code == 422
    assert any(
        "from 0 to 20" in e for e in errors_beside(response.content.decode(), "max_instances")
    )
    response = client.post("/deployments/acme/prod/settings", {**SETTINGS, "hardware": "gpu-t4"})
    assert any("GPU" in e for e in errors_beside(response.content.decode(), "hardware"))
    response = client.post("/deployments/acme/prod/settings", SETTINGS)
    assert "Nothing to change: release 1 already has this configuration." in unescape(
        response.content.decode()
    )
    assert Release.objects.count() == 1


def test_rolling_back_makes_release_3_with_release_1s_configuration(client_for, cast, sauce):
    deployment = deploy(cast, sauce)
    services.deployment_update(
        deployment, {"version": DIGEST_1, "min_instances": 1, "max_instances": 4}
    )
    client = client_for(cast.bob)
    response = client.post("/deployments/acme/prod/rollback", {"number": "1"})
    assert response.status_code == 302
    deployment.refresh_from_db()
    release = deployment.current_release
    first = deployment.releases.get(number=1)
    assert release.number == 3 and release.rolled_back_from == 1
    assert release.configuration == first.configuration
    html = client.get("/deployments/acme/prod").content.decode()
    assert "Rolled back: release 3 has the configuration of #1." in html
    assert "rollback to #1" in html
    assert "Roll back to #1" in html and "Roll back to #2" in html


def test_rolling_back_to_a_release_that_is_not_there(client_for, cast, sauce):
    deploy(cast, sauce)
    client = client_for(cast.alice)
    response = client.post("/deployments/acme/prod/rollback", {"number": "9"})
    assert response.status_code == 404
    assert client.post("/deployments/acme/prod/rollback", {"number": "x"}).status_code == 404


# Disable and delete


def test_disabling_cancels_what_is_queued_and_enabling_undoes_it(client_for, cast, sauce):
    deployment = deploy(cast, sauce)
    queued = queue_prediction(cast, deployment)
    client = client_for(cast.bob)
    response = client.post("/deployments/acme/prod/disable", {"disabled": "1"}, follow=True)
    html = response.content.decode()
    deployment.refresh_from_db()
    queued.refresh_from_db()
    assert deployment.disabled
    assert queued.status == Prediction.Status.CANCELED
    assert "is disabled" in html and ">Enable</button>" in html
    client.post("/deployments/acme/prod/disable", {"disabled": "0"})
    deployment.refresh_from_db()
    assert not deployment.disabled


def test_deleting_a_deployment(client_for, cast, sauce):
    deploy(cast, sauce)
    client = client_for(cast.alice)
    response = client.post("/deployments/acme/prod/delete", follow=True)
    assert response.redirect_chain == [("/deployments", 302)]
    assert "acme/prod is deleted." in response.content.decode()
    assert not Deployment.objects.exists()


def test_a_deployment_with_instances_online_is_not_deleted(client_for, cast, sauce):
    deployment = deploy(cast, sauce)
    start_instance(deployment)
    response = client_for(cast.alice).post("/deployments/acme/prod/delete")
    assert response.status_code == 409
    assert "acme/prod still has instances online" in unescape(response.content.decode())
    assert Deployment.objects.filter(pk=deployment.pk).exists()


def test_a_deployment_used_recently_is_not_deleted(client_for, cast, sauce):
    deployment = deploy(cast, sauce)
    queue_prediction(cast, deployment)
    response = client_for(cast.alice).post("/deployments/acme/prod/delete")
    assert response.status_code == 409
    assert "was used in the last 15 minutes" in response.content.decode()


# The Deploy buttons on the model pages


def test_the_model_page_has_a_deploy_link_for_people_logged_in(client_for, client, cast):
    public = make_model(cast, visibility="public", name="open")
    add_version(public)
    empty = make_model(cast, name="empty")
    assert "/deployments/create" not in client.get("/acme/open").content.decode()
    client = client_for(cast.charlie)
    assert 'href="/deployments/create?model=acme/open"' in client.get("/acme/open").content.decode()
    client = client_for(cast.alice)
    assert "/deployments/create" not in client.get(f"/{empty.full_name}").content.decode()


def test_the_version_page_deploys_that_version(client_for, cast, sauce):
    html = client_for(cast.alice).get(f"/acme/secret-sauce/versions/{DIGEST_1}").content.decode()
    assert f'href="/deployments/create?model=acme/secret-sauce&amp;version={DIGEST_1}"' in html


def test_pages_carry_no_inline_script_or_style(client_for, cast, sauce):
    deploy(cast, sauce)
    client = client_for(cast.alice)
    for path in ("/deployments", "/deployments/create", "/deployments/acme/prod"):
        html = client.get(path).content.decode()
        assert not re.search(r"<script(?![^>]*\bsrc=)", html), path
        assert " style=" not in html and "<style" not in html, path
        assert not re.search(r"\son[a-z]+=", html), path


def test_the_acting_account_is_the_one_the_form_starts_with(client_for, cast, sauce):
    client = client_for(cast.alice)
    client.post("/account/context/", {"account": "acme"})
    html = client.get("/deployments/create").content.decode()
    assert '<option value="acme" selected>acme</option>' in html
    assert Account.objects.filter(name="acme").exists()
