"""`manage.py render_k8s`: a deployment's instances as a Kubernetes Deployment and a KEDA
ScaledObject on the very Redis list the platform queues the deployment's predictions into."""

from __future__ import annotations

import re
from io import StringIO

import pytest
import yaml
from django.conf import settings
from django.core.management import CommandError, call_command

from apps.core.queue import broker
from apps.deployments import services
from apps.deployments.management.commands.render_k8s import k8s_name
from apps.predictions.tasks import run_prediction
from tests.catalog.factories import add_version, make_model

DNS_1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


@pytest.fixture
def painter(cast, settings):
    settings.INSTANCE_CPUS, settings.INSTANCE_MEMORY_GB, settings.INSTANCE_GPUS = 64, 256, 8
    model = make_model(cast, owner=cast.acme.account, name="painter")
    add_version(model, digest="a" * 64)
    return model


@pytest.fixture
def deploy(cast, painter):
    made = []

    def deploy(name="web", hardware="cpu", min_instances=0, max_instances=3):
        hardware = services.resolve_hardware(hardware)
        config = services.check_config(
            painter.latest_version, hardware, min_instances, max_instances
        )
        deployment = services.deployment_create(
            owner=cast.acme.account, name=name, model=painter, config=config, user=cast.alice.user
        )
        made.append(deployment)
        return deployment

    yield deploy
    for deployment in made:
        broker.flush(deployment.queue_name)


def render(*args) -> list[dict]:
    out = StringIO()
    call_command("render_k8s", *args, stdout=out)
    return list(yaml.safe_load_all(out.getvalue()))


def manifests(*args) -> tuple[dict, dict]:
    workload, scaled = render(*args)
    assert (workload["apiVersion"], workload["kind"]) == ("apps/v1", "Deployment")
    assert (scaled["apiVersion"], scaled["kind"]) == ("keda.sh/v1alpha1", "ScaledObject")
    return workload, scaled


def container(workload: dict) -> dict:
    (only,) = workload["spec"]["template"]["spec"]["containers"]
    return only


def trigger(scaled: dict) -> dict:
    (only,) = scaled["spec"]["triggers"]
    assert only["type"] == "redis"
    return only["metadata"]


def test_the_scaled_object_watches_the_list_the_platform_enqueues_into(
    deploy, cast, django_capture_on_commit_callbacks
):
    deployment = deploy()
    key = broker.queue_key(deployment.queue_name)
    workload, scaled = manifests("acme/web")
    assert trigger(scaled)["listName"] == key
    assert key == f"{settings.DRAMATIQ_NAMESPACE}:deployment.acme.web"
    assert trigger(scaled)["listLength"] == "1"
    assert container(workload)["command"] == [
        "python",
        "manage.py",
        "worker",
        "--queues",
        deployment.queue_name,
        "--threads",
        "1",
    ]
    # That list is where a message for the deployment's queue lands...
    redis = broker.client
    before = redis.llen(key)
    broker.enqueue(run_prediction.message("k8s-test").copy(queue_name=deployment.queue_name))
    assert redis.llen(key) == before + 1
    # ...and where a prediction on the deployment is queued.
    with django_capture_on_commit_callbacks(execute=True):
        services.deployment_predict(deployment, owner=cast.acme.account, input={"prompt": "hi"})
    assert redis.llen(key) == before + 2
    broker.flush(deployment.queue_name)
    assert redis.llen(key) == 0


def test_replica_counts_resources_and_labels_come_from_the_release(deploy):
    deployment = deploy(min_instances=1, max_instances=4)
    release = deployment.current_release
    workload, scaled = manifests("acme/web")
    spec = scaled["spec"]
    assert (spec["minReplicaCount"], spec["maxReplicaCount"]) == (1, 4)
    assert spec["scaleTargetRef"]["name"] == workload["metadata"]["name"]
    assert spec["cooldownPeriod"] == 60  # AUTOSCALER_IDLE_SECONDS
    assert 1 <= spec["pollingInterval"] <= 5
    assert "replicas" not in workload["spec"]  # KEDA owns the count
    assert container(workload)["resources"] == {
        "requests": {"cpu": "4", "memory": "8Gi"},
        "limits": {"cpu": "4", "memory": "8Gi"},
    }
    assert container(workload)["envFrom"] == [{"secretRef": {"name": "selfrep"}}]
    # Kept warm (min 1): the model boots when the instance starts.
    preload = {"name": "SELFREP_PRELOAD_VERSION", "value": str(release.version_id)}
    assert container(workload)["env"] == [preload]
    labels = workload["spec"]["template"]["metadata"]["labels"]
    assert labels["selfrep/deployment"] == workload["metadata"]["name"]
    assert labels["selfrep/release"] == str(release.number)
    selector = workload["spec"]["selector"]["matchLabels"]
    assert "selfrep/release" not in selector  # a selector never changes; a release rolls out
    assert selector.items() <= labels.items()
    assert workload["metadata"]["annotations"]["selfrep/deployment"] == "acme/web"
    assert "paused-replicas" not in str(scaled["metadata"])


def test_a_gpu_sku_asks_for_its_gpus(deploy):
    deploy(hardware="gpu-a40-large-2x")
    workload, _scaled = manifests("acme/web")
    resources = container(workload)["resources"]
    expected = {"cpu": "20", "memory": "144Gi", "nvidia.com/gpu": "2"}
    assert resources == {"requests": expected, "limits": expected}
    tolerations = workload["spec"]["template"]["spec"]["tolerations"]
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in tolerations


def test_a_new_release_changes_what_is_rendered(deploy):
    deployment = deploy(min_instances=0, max_instances=3)
    workload, scaled = manifests("acme/web")
    assert (scaled["spec"]["minReplicaCount"], scaled["spec"]["maxReplicaCount"]) == (0, 3)
    assert "nvidia.com/gpu" not in container(workload)["resources"]["limits"]
    assert "env" not in container(workload)  # min 0: the first prediction boots the model

    release = services.deployment_update(
        deployment, {"min_instances": 2, "max_instances": 5, "hardware": "gpu-t4"}
    )
    workload, scaled = manifests("acme/web")
    assert (scaled["spec"]["minReplicaCount"], scaled["spec"]["maxReplicaCount"]) == (2, 5)
    assert container(workload)["resources"]["limits"]["nvidia.com/gpu"] == "1"
    template = workload["spec"]["template"]["metadata"]
    assert template["labels"]["selfrep/release"] == str(release.number) == "2"
    assert template["annotations"]["selfrep/hardware"] == "gpu-t4"


def test_an_off_deployment_is_paused_at_zero(deploy):
    deployment = deploy(max_instances=2)
    services.deployment_update(deployment, {"min_instances": 0, "max_instances": 0})
    _workload, scaled = manifests("acme/web")
    assert scaled["metadata"]["annotations"]["autoscaling.keda.sh/paused-replicas"] == "0"
    assert scaled["spec"]["minReplicaCount"] == 0
    assert scaled["spec"]["maxReplicaCount"] == 1  # an autoscaler's maximum is at least 1


@pytest.mark.parametrize(
    "full_name",
    ["acme/web", "Acme_Corp/my.model_v2", "a/" + "x" * 100, "a-b/c", "a/b-c", "a/b.c", "a/b_c"],
)
def test_names_are_dns_1123_labels(full_name):
    name = k8s_name(full_name)
    assert DNS_1123_LABEL.match(name) and len(name) <= 63, name
    assert name == k8s_name(full_name.upper())  # full names are unique case-insensitively


def test_names_that_differ_only_in_what_was_replaced_stay_apart():
    names = {k8s_name(n) for n in ["a-b/c", "a/b-c", "a/b.c", "a/b_c", "a/b--c"]}
    assert len(names) == 5


def test_rendered_names_and_namespace(deploy):
    long_name = "model." + "x" * 80 + "_v2"
    deploy(name=long_name)
    workload, scaled = manifests(
        f"acme/{long_name}", "--namespace", "models", "--image", "ghcr.io/me/selfrep:1.2"
    )
    for document in (workload, scaled):
        assert DNS_1123_LABEL.match(document["metadata"]["name"])
        assert len(document["metadata"]["name"]) <= 63
        assert document["metadata"]["namespace"] == "models"
    assert container(workload)["image"] == "ghcr.io/me/selfrep:1.2"


def test_all_renders_every_enabled_deployment(deploy):
    deploy(name="one")
    deploy(name="two", max_instances=5)
    services.deployment_set_disabled(deploy(name="three"), True)
    documents = render("--all")
    scaled = [d for d in documents if d["kind"] == "ScaledObject"]
    assert len(documents) == 4
    assert sorted(d["spec"]["maxReplicaCount"] for d in scaled) == [3, 5]
    named = {d["metadata"]["name"] for d in documents}
    assert named == {k8s_name("acme/one"), k8s_name("acme/two")}


def test_the_redis_address_comes_from_redis_url(deploy, settings):
    deploy()
    settings.REDIS_URL = "rediss://:s3cret@redis.internal:6380/2"
    _workload, scaled = manifests("acme/web")
    metadata = trigger(scaled)
    assert metadata["address"] == "redis.internal:6380"
    assert metadata["databaseIndex"] == "2"
    assert metadata["enableTLS"] == "true"
    assert metadata["passwordFromEnv"] == "REDIS_PASSWORD"
    assert "s3cret" not in yaml.safe_dump(scaled)

    settings.REDIS_URL = "unix:///var/run/redis.sock"  # the embedded one: no cluster reaches it
    _workload, scaled = manifests("acme/web")
    assert trigger(scaled)["addressFromEnv"] == "REDIS_ADDRESS"
    assert "address" not in trigger(scaled)


def test_an_unknown_deployment_is_a_command_error(cast):
    with pytest.raises(CommandError, match="no deployment 'acme/nothing'"):
        call_command("render_k8s", "acme/nothing", stdout=StringIO())
    with pytest.raises(CommandError, match="owner/name"):
        call_command("render_k8s", "nothing", stdout=StringIO())
    with pytest.raises(CommandError, match="--all"):
        call_command("render_k8s", stdout=StringIO())
