"""Deployments end to end: a real web server, the real autoscaler, and the instance workers
it starts, against the test database and Redis."""

from __future__ import annotations

import sys
import threading
import time
from decimal import Decimal
from textwrap import dedent

import httpx
import pytest

from apps.billing import rules
from apps.billing.models import UsageRecord
from apps.catalog.services import version_push
from apps.core.queue import broker
from apps.deployments.models import Deployment, Instance
from apps.predictions.models import Prediction
from tests.e2e.platform import Platform, push_model

IDLE = 3  # seconds: the idle window before an instance above min stops


@pytest.fixture(scope="module")
def platform(django_db_setup, django_db_blocker, tmp_path_factory):
    server = Platform(
        tmp_path_factory.mktemp("deployments"),
        extra_env={
            "AUTOSCALER_IDLE_SECONDS": str(IDLE),
            "AUTOSCALER_INTERVAL": "0.5",
            "INSTANCE_CPUS": "8",  # two instances of `cpu` (4 vCPUs each), no more
            "INSTANCE_MEMORY_GB": "64",
        },
    )
    server.workers.append(server._spawn("autoscaler", [sys.executable, "manage.py", "autoscaler"]))
    yield server
    server.stop()


@pytest.fixture
def hello(transactional_db, cast, tmp_path):
    return push_model(cast.alice.user.account, "hello", tmp_path)


def api(platform, person):
    return httpx.Client(base_url=platform.url + "/v1", headers=person_headers(person), timeout=60)


def person_headers(person) -> dict[str, str]:
    return {"Authorization": f"Bearer {person.token}"}


def wait_for(condition, timeout: float, what: str, logs=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}" + (f"\n{logs()}" if logs else ""))


def online(name: str) -> int:
    return (
        Instance.objects.filter(deployment__name=name, state__in=Instance.ONLINE)
        .exclude(state=Instance.State.STOPPING)
        .count()
    )


def create(http, name: str, version, min_instances=0, max_instances=2) -> dict:
    response = http.post(
        "/deployments",
        json={
            "name": name,
            "model": "alice/hello",
            "version": version.digest,
            "hardware": "cpu",
            "min_instances": min_instances,
            "max_instances": max_instances,
        },
    )
    assert response.status_code == 200, response.text
    return response.json()


def finished(http, ids: list[str]) -> list[dict]:
    bodies = []
    for prediction_id in ids:
        body = wait_for(
            lambda pid=prediction_id: (
                b
                if (b := http.get(f"/predictions/{pid}").json())["status"]
                in ("succeeded", "failed", "canceled")
                else None
            ),
            120,
            f"prediction {prediction_id}",
        )
        bodies.append(body)
    return bodies


def test_scales_from_zero_to_two_and_back_to_zero(platform, hello, cast):
    http = api(platform, cast.alice)
    create(http, "greeter", hello)
    time.sleep(1.5)
    assert online("greeter") == 0  # min 0: nothing runs until work arrives

    # The first prediction is a cold boot: it waits as `starting`, and its logs show setup.
    first = http.post(
        "/deployments/alice/greeter/predictions", json={"input": {"text": "cold"}}
    ).json()
    assert first["status"] == "starting"
    assert first["deployment"] == "alice/greeter"
    assert first["version"] == hello.digest
    (cold,) = finished(http, [first["id"]])
    assert cold["status"] == "succeeded", cold
    assert cold["output"] == "hello cold"
    assert "hello model ready" in cold["logs"] and "(cold boot)" in cold["logs"]

    # A sustained backlog: it reaches two instances (its max), never more.
    ids = [
        http.post(
            "/deployments/alice/greeter/predictions", json={"input": {"text": f"{i}", "sleep": 1.5}}
        ).json()["id"]
        for i in range(8)
    ]
    peak = wait_for(lambda: online("greeter") == 2, 60, "a second instance", platform.logs)
    assert peak
    bodies = finished(http, ids)
    assert [b["status"] for b in bodies] == ["succeeded"] * 8
    assert Instance.objects.filter(deployment__name="greeter").count() == 2

    # Back to zero after the idle window; every instance's start and stop are recorded.
    wait_for(
        lambda: (
            online("greeter") == 0
            and not Instance.objects.filter(
                deployment__name="greeter", state__in=Instance.ONLINE
            ).exists()
        ),
        30 + IDLE,
        "scale to zero",
        platform.logs,
    )
    for instance in Instance.objects.filter(deployment__name="greeter"):
        assert instance.state == Instance.State.STOPPED
        assert instance.started_at < instance.stopped_at
        assert (instance.stopped_at - instance.last_busy_at).total_seconds() >= IDLE - 0.5
    # Which instance ran which prediction is on record: both instances worked.
    workers = set(Prediction.objects.filter(pk__in=ids).values_list("worker_id", flat=True))
    assert workers <= set(
        Instance.objects.filter(deployment__name="greeter").values_list("worker_id", flat=True)
    )

    # The bill: every second each instance was online (setting up, idle, busy), at the CPU
    # price, once; the deployment's predictions themselves cost nothing more.
    def billed(instance) -> Decimal:
        rows = UsageRecord.objects.filter(kind="instance", object_id=str(instance.pk))
        return sum((row.seconds for row in rows), Decimal(0))

    for instance in Instance.objects.filter(deployment__name="greeter"):
        online_time = rules.seconds_of(instance.online_seconds)
        wait_for(lambda i=instance, t=online_time: abs(billed(i) - t) <= Decimal("0.002"),
                 30, f"{instance} in the ledger", platform.logs)  # fmt: skip
        for row in UsageRecord.objects.filter(object_id=str(instance.pk)):
            assert row.amount == row.seconds * Decimal("0.0001") and row.basis == "online"
            assert row.deployment == "alice/greeter" and row.account == cast.alice.user.account
    predictions = UsageRecord.objects.filter(kind="prediction", object_id__in=ids)
    assert predictions.count() == 8 and {row.amount for row in predictions} == {Decimal(0)}
    usage = http.get("/account/usage").json()["results"]
    assert {row["kind"] for row in usage if row["deployment"] == "alice/greeter"} == {
        "instance",
        "prediction",
    }


def test_min_instances_keep_a_warm_model(platform, hello, cast):
    http = api(platform, cast.alice)
    create(http, "warm", hello, min_instances=1, max_instances=1)
    # Started with no work waiting, the instance boots its model before any prediction.
    wait_for(
        lambda: (
            Instance.objects.filter(deployment__name="warm", state="idle").exists()
            and "model of version" in platform_instance_log("warm")
        ),
        60,
        "a warm instance",
        platform.logs,
    )
    first = http.post(
        "/deployments/alice/warm/predictions",
        json={"input": {"text": "w"}},
        headers={"Prefer": "wait"},
    ).json()
    assert first["status"] == "succeeded", first
    assert "(cold boot)" not in first["logs"]
    http.patch("/deployments/alice/warm", json={"min_instances": 0, "max_instances": 0})
    wait_for(lambda: online("warm") == 0, 30, "its instances to stop", platform.logs)


def platform_instance_log(name: str) -> str:
    from django.conf import settings

    instance = Instance.objects.filter(deployment__name=name).first()
    if instance is None:
        return ""
    path = settings.VAR_DIR / "instances" / f"{instance.pk}.log"
    return path.read_text(errors="replace") if path.exists() else ""


def _second_version(hello, tmp_path):
    directory = tmp_path / "hello2"
    directory.mkdir()
    (directory / "cog.yaml").write_text('predict: "predict.py:Predictor"\n')
    (directory / "predict.py").write_text(
        dedent(
            """
            from cog import BasePredictor, Input

            class Predictor(BasePredictor):
                def predict(self, text: str = Input(default="world"),
                            sleep: float = Input(default=0, ge=0, le=120),
                            upper: bool = False) -> str:
                    return "hi v2 " + text
            """
        )
    )
    version, _ = version_push(model=hello.model, source_dir=directory)
    return version


def test_a_new_release_rolls_over_without_failing_a_prediction(platform, hello, cast, tmp_path):
    v2 = _second_version(hello, tmp_path)
    http = api(platform, cast.alice)
    create(http, "rolling", hello, min_instances=1, max_instances=2)
    ids: list[str] = []

    def send(count):
        for _ in range(count):
            response = http.post(
                "/deployments/alice/rolling/predictions",
                json={"input": {"text": str(len(ids)), "sleep": 0.1}},
            )
            assert response.status_code == 201, response.text
            ids.append(response.json()["id"])
            time.sleep(0.05)

    sender = threading.Thread(target=send, args=(25,))
    sender.start()
    sender.join()
    patched = http.patch("/deployments/alice/rolling", json={"version": v2.digest})
    assert patched.status_code == 200, patched.text
    assert patched.json()["current_release"]["number"] == 2
    assert patched.json()["current_release"]["version"] == v2.digest
    send(25)

    bodies = finished(http, ids)
    assert len(bodies) == 50
    assert [b["status"] for b in bodies] == ["succeeded"] * 50, [
        (b["id"], b["error"]) for b in bodies if b["status"] != "succeeded"
    ]
    # Each ran on exactly one release: its version's code made its output, and once the
    # release changed, every new prediction ran the new version.
    expected = {hello.digest: "hello ", v2.digest: "hi v2 "}
    for body in bodies:
        assert body["output"].startswith(expected[body["version"]]), body
    assert [b["version"] for b in bodies[25:]] == [v2.digest] * 25
    deployment = Deployment.objects.get(name="rolling")
    assert deployment.releases.count() == 2
    # The old release's instances stopped; the new release's serve.
    wait_for(
        lambda: (
            not Instance.objects.filter(
                deployment=deployment, release__number=1, state__in=Instance.ONLINE
            ).exists()
        ),
        60,
        "the old release's instances to stop",
        platform.logs,
    )
    assert Instance.objects.filter(deployment=deployment, release__number=2).exists()


def test_disabling_cancels_in_flight_and_refuses_new_predictions(platform, hello, cast):
    http = api(platform, cast.alice)
    create(http, "switch", hello, min_instances=1, max_instances=1)
    running = http.post(
        "/deployments/alice/switch/predictions", json={"input": {"sleep": 60}}
    ).json()
    queued = http.post("/deployments/alice/switch/predictions", json={"input": {}}).json()
    wait_for(
        lambda: http.get(f"/predictions/{running['id']}").json()["status"] == "processing",
        60,
        "the first prediction to run",
        platform.logs,
    )
    response = http.patch(
        "/deployments/alice/switch", json={"min_instances": 0, "max_instances": 0}
    )
    assert response.status_code == 200, response.text
    bodies = finished(http, [running["id"], queued["id"]])
    assert [b["status"] for b in bodies] == ["canceled", "canceled"]

    refused = http.post("/deployments/alice/switch/predictions", json={"input": {}})
    assert refused.status_code == 409
    assert refused.headers["content-type"] == "application/problem+json"
    assert "disabled" in refused.json()["detail"]
    wait_for(lambda: online("switch") == 0, 30, "its instances to stop", platform.logs)
    broker.flush(Deployment.objects.get(name="switch").queue_name)


def test_the_official_python_client_manages_and_runs_deployments(platform, hello, cast):
    import replicate

    client = replicate.Client(api_token=cast.alice.token, base_url=platform.url)
    created = client.deployments.create(
        name="py-client",
        model="alice/hello",
        version=hello.digest,
        hardware="cpu",
        min_instances=0,
        max_instances=1,
    )
    assert created.owner == "alice" and created.name == "py-client"
    assert created.current_release.number == 1
    assert created.current_release.configuration.hardware == "cpu"

    deployment = client.deployments.get("alice/py-client")
    prediction = deployment.predictions.create(input={"text": "client"})
    prediction.wait()
    assert prediction.status == "succeeded", prediction.error
    assert prediction.output == "hello client"

    updated = client.deployments.update(
        deployment_owner="alice", deployment_name="py-client", max_instances=2
    )
    assert updated.current_release.number == 2
    assert updated.current_release.configuration.max_instances == 2
    names = [d.name for d in client.deployments.list().results]
    assert "py-client" in names

    with pytest.raises(replicate.exceptions.ReplicateError) as refused:
        client.deployments.delete("alice", "py-client")  # used a moment ago
    assert refused.value.status == 409
    Deployment.objects.filter(name="py-client").update(last_prediction_at=None)
    wait_for(lambda: online("py-client") == 0, 30, "scale to zero", platform.logs)
    wait_for(
        lambda: (
            not Instance.objects.filter(
                deployment__name="py-client", state__in=Instance.ONLINE
            ).exists()
        ),
        30,
        "its instances to stop",
    )
    assert client.deployments.delete("alice", "py-client") is True
    assert not Deployment.objects.filter(name="py-client").exists()


NODE_SCRIPT = """
const Replicate = require("replicate");
const replicate = new Replicate({auth: process.env.TOKEN, baseUrl: process.env.BASE + "/v1"});
(async () => {
  let prediction = await replicate.deployments.predictions.create("alice", "node-client",
                                                                  {input: {text: "npm"}});
  prediction = await replicate.wait(prediction);
  console.log(JSON.stringify(prediction));
})().catch((error) => { console.error(error); process.exit(1); });
"""


def test_the_npm_client_runs_a_deployment(platform, hello, cast, node_client, tmp_path):
    import json
    import os
    import subprocess

    create(api(platform, cast.alice), "node-client", hello, max_instances=1)
    script = tmp_path / "client.js"
    script.write_text(NODE_SCRIPT)
    env = {
        **os.environ,
        "NODE_PATH": str(node_client / "node_modules"),
        "TOKEN": cast.alice.token,
        "BASE": platform.url,
    }
    result = subprocess.run(
        ["node", str(script)], env=env, capture_output=True, text=True, timeout=180
    )
    assert result.returncode == 0, result.stderr + result.stdout
    body = json.loads(result.stdout.strip().splitlines()[-1])
    assert body["status"] == "succeeded"
    assert body["output"] == "hello npm"
    assert body["deployment"] == "alice/node-client"


@pytest.fixture(autouse=True)
def _no_stray_deployment_messages(platform):
    yield
    for name in ("greeter", "warm", "rolling", "switch", "py-client", "node-client"):
        broker.flush(f"deployment.alice.{name}")
