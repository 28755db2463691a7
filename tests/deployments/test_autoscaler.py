"""The autoscaler's policy, its capacity rule, and how instance records survive a crash."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.core.queue import broker
from apps.deployments import capacity, services
from apps.deployments.models import Deployment, Instance
from apps.deployments.policy import Observation, may_stop, target
from apps.deployments.supervisor import Supervisor
from apps.runtime import procgroup
from tests.catalog.factories import add_version, make_model


def obs(**fields) -> Observation:
    values = {"min_instances": 0, "max_instances": 3, "off": False, "waiting": 0, "running": 0}
    return Observation(**{**values, **fields})


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, 0),  # nothing to do, min 0: scale to zero
        ({"min_instances": 2}, 2),  # min keeps instances warm
        ({"waiting": 1}, 1),  # work from zero: one instance
        ({"waiting": 2, "running": 1}, 3),
        ({"waiting": 50}, 3),  # never above max
        ({"waiting": 50, "off": True, "min_instances": 2}, 0),  # disabled: none at all
        # While there is work, the last minute's arrivals x latency (Little's law) count too.
        ({"running": 1, "arrivals_per_second": 2.0, "latency_p50": 1.2}, 3),
        # ... but not without work: an idle deployment still returns to min.
        ({"arrivals_per_second": 2.0, "latency_p50": 1.2}, 0),
    ],
)
def test_the_target(fields, expected):
    assert target(obs(**fields)) == expected


def test_two_predictions_per_instance_halve_the_target():
    assert target(obs(waiting=3, running=1), per_instance=2) == 2


def test_an_instance_stops_only_after_the_idle_window():
    now = timezone.now()
    assert not may_stop(now - timedelta(seconds=59), now - timedelta(hours=1), now, 60)
    assert may_stop(now - timedelta(seconds=60), now - timedelta(hours=1), now, 60)
    assert may_stop(None, now - timedelta(seconds=61), now, 60)  # never busy: since start


def test_capacity_refuses_what_can_never_fit(cast, settings):
    from apps.billing.models import Hardware

    settings.INSTANCE_GPUS = 0
    settings.INSTANCE_CPUS = 8
    settings.INSTANCE_MEMORY_GB = 16
    assert capacity.unservable(Hardware.objects.get(sku="cpu")) is None
    assert "needs 1 GPU" in capacity.unservable(Hardware.objects.get(sku="gpu-t4"))
    settings.INSTANCE_GPUS = 1
    assert capacity.unservable(Hardware.objects.get(sku="gpu-t4")) is None  # 16 GB of 16
    assert "needs 10 vCPUs" in capacity.unservable(Hardware.objects.get(sku="gpu-a40-large"))
    settings.INSTANCE_MEMORY_GB = 15
    assert "needs 16 GB" in capacity.unservable(Hardware.objects.get(sku="gpu-t4"))


@pytest.fixture
def deployment(transactional_db, cast):
    model = make_model(cast, owner=cast.acme.account, name="painter")
    version = add_version(model, digest="a" * 64)
    config = services.check_config(version, services.resolve_hardware("cpu"), 0, 2)
    deployment = services.deployment_create(
        owner=cast.acme.account, name="web", model=model, config=config
    )
    yield deployment
    broker.flush(deployment.queue_name)


def test_a_crashed_supervisors_instances_are_closed_at_their_last_sign_of_life(
    deployment, settings
):
    settings.INSTANCE_HOST = "this-host"
    seen = timezone.now() - timedelta(seconds=42)
    dead = Instance.objects.create(
        deployment=deployment,
        release=deployment.current_release,
        host="this-host",
        worker_id="dead",
        pid=2**22 + 12345,  # no such process
        state=Instance.State.IDLE,
        started_at=seen - timedelta(minutes=5),
        seen_at=seen,
    )
    orphan_process = subprocess.Popen(
        ["sleep", "300"], start_new_session=True, env={**os.environ, "SELFREP_WORKER_ID": "orphan"}
    )
    # After a reboot a recorded pid may be another process's: never killed.
    stranger_process = subprocess.Popen(["sleep", "300"], start_new_session=True)
    stranger = Instance.objects.create(
        deployment=deployment,
        release=deployment.current_release,
        host="this-host",
        worker_id="stranger",
        pid=stranger_process.pid,
        state=Instance.State.IDLE,
        seen_at=seen,
    )
    orphan = Instance.objects.create(
        deployment=deployment,
        release=deployment.current_release,
        host="this-host",
        worker_id="orphan",
        pid=orphan_process.pid,
        state=Instance.State.BUSY,
        seen_at=seen,
    )
    elsewhere = Instance.objects.create(
        deployment=deployment,
        release=deployment.current_release,
        host="another-host",
        worker_id="elsewhere",
        state=Instance.State.IDLE,
    )
    try:
        Supervisor(log_dir=settings.VAR_DIR / "test-instances").recover()
        orphan_process.wait(timeout=10)  # it was killed
        assert stranger_process.poll() is None
    finally:
        for process in (orphan_process, stranger_process):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
    stranger.refresh_from_db()
    assert stranger.state == Instance.State.STOPPED and stranger.stopped_at == seen
    dead.refresh_from_db()
    assert dead.state == Instance.State.STOPPED and dead.stopped_at == seen
    orphan.refresh_from_db()
    assert orphan.state == Instance.State.STOPPED and orphan.stopped_at > seen
    elsewhere.refresh_from_db()
    assert elsewhere.state == Instance.State.IDLE  # another machine's supervisor owns it


def test_it_never_overcommits_and_says_it_waits_for_capacity(
    deployment, settings, process_env, monkeypatch, tmp_path
):
    from tests.catalog.factories import add_prediction

    for name, value in process_env.items():  # the instances it starts use the test database
        monkeypatch.setenv(name, value)
    settings.INSTANCE_CPUS = 4  # room for one `cpu` instance (4 vCPUs)
    settings.INSTANCE_HOST = "this-host"
    for _ in range(3):
        add_prediction(
            deployment.model,
            deployment.current_release.version,
            deployment.owner,
            status="starting",
            deployment=deployment.full_name,
        )
    supervisor = Supervisor(log_dir=tmp_path)
    try:
        supervisor.tick()
        supervisor.tick()
        online = Instance.objects.filter(deployment=deployment, state__in=Instance.ONLINE)
        assert online.count() == 1
        assert online.get().pid and procgroup.running(online.get().pid)
        deployment.refresh_from_db()
        assert deployment.scaling_note.startswith("waiting for capacity")
        # Disabled: every instance stops, and the note goes.
        Deployment.objects.filter(pk=deployment.pk).update(disabled=True)
        supervisor.tick()
        assert online.get().state == Instance.State.STOPPING
        deployment.refresh_from_db()
        assert deployment.scaling_note == ""
        deadline = time.monotonic() + 30
        while online.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
            supervisor.tick()
        stopped = Instance.objects.get(deployment=deployment)
        assert stopped.state == Instance.State.STOPPED
        assert stopped.stopped_at >= stopped.started_at
    finally:
        supervisor.shutdown()
