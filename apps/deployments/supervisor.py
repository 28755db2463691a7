"""The autoscaler and the local instance supervisor (`manage.py autoscaler`).

Every AUTOSCALER_INTERVAL seconds it looks at each deployment (its release, what waits in its
queue, what its instances run), decides how many instances it should have
(`policy.target`), and starts or stops instance processes on this machine within what the
machine declares (`capacity`). An instance is `manage.py worker --queues <the deployment's
queue> --threads 1` with a worker id of its own, so the predictions it claims name it.

Instance rows are the record of online time: `started_at` is written before the process
starts, `stopped_at` when it is seen gone, and `seen_at` every few seconds while it runs, so
after a crash of the supervisor the next one closes what was left open at `seen_at`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from datetime import timedelta

from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

from apps.billing import limits
from apps.core.redis import client as redis_client
from apps.deployments import capacity, metering, metrics, policy
from apps.deployments.models import Deployment, Instance
from apps.predictions.models import Prediction
from apps.predictions.worker import alive_key, setting_up_key
from apps.runtime import procgroup

logger = logging.getLogger(__name__)

SEEN_EVERY = 5.0  # seconds between writes of `seen_at`
KILL_AFTER_SHUTDOWN = 10.0  # seconds the supervisor's own shutdown waits before SIGKILL


def _is_instance_process(pid: int, worker_id: str) -> bool:
    """Whether `pid` still is that instance's worker (after a reboot the number may belong to
    another process): its environment names the worker id it was given."""
    if not procgroup.running(pid):
        return False
    try:
        with open(f"/proc/{pid}/environ", "rb") as handle:
            return f"SELFREP_WORKER_ID={worker_id}".encode() in handle.read().split(b"\0")
    except OSError:
        return False


class Supervisor:
    def __init__(self, log_dir=None) -> None:
        self.host = settings.INSTANCE_HOST
        self.processes: dict[str, subprocess.Popen] = {}  # instance id -> its worker
        self.stop_sent: dict[str, float] = {}  # instance id -> monotonic time of SIGTERM
        self.log_dir = log_dir or settings.VAR_DIR / "instances"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.last_seen_write = 0.0
        self.meter = metrics.Meter()

    # --- the loop --------------------------------------------------------------------------

    def run(self, stop) -> None:
        """Tick until `stop` (a threading.Event) is set, then stop every instance."""
        self.recover()
        try:
            while not stop.is_set():
                started = time.monotonic()
                try:
                    self.tick()
                except Exception:  # one bad tick (database restarting) must not end scaling
                    logger.exception("autoscaler tick failed")
                    close_old_connections()
                stop.wait(max(0.05, settings.AUTOSCALER_INTERVAL - (time.monotonic() - started)))
        finally:
            self.shutdown()

    def recover(self) -> None:
        """Instances a previous supervisor on this host left online: close their records at
        their last sign of life, stopping any that still run (they are not ours to watch)."""
        for instance in Instance.objects.filter(host=self.host, state__in=Instance.ONLINE):
            if instance.pid and _is_instance_process(instance.pid, instance.worker_id):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(instance.pid, signal.SIGKILL)
                stopped_at = timezone.now()
            else:
                stopped_at = instance.seen_at
            instance.state = Instance.State.STOPPED
            instance.stopped_at = stopped_at
            instance.error = "its supervisor stopped; closed at its last sign of life"
            instance.save(update_fields=["state", "stopped_at", "error"])
        metering.record_host(self.host, timezone.now())

    def tick(self) -> None:
        close_old_connections()
        now = timezone.now()
        deployments = list(
            Deployment.objects.select_related(
                "owner", "current_release__hardware", "current_release__version"
            )
        )
        instances = list(
            Instance.objects.filter(host=self.host, state__in=Instance.ONLINE).select_related(
                "release"
            )
        )
        self._reap(instances, now)
        self._stop_unrecorded({str(i.pk) for i in instances})
        instances = [i for i in instances if i.is_online]
        work = self._work([d.full_name for d in deployments])
        self._observe_states(instances, work, now)
        used = capacity.Resources()
        for instance in instances:
            used = used + capacity.demand(instance.release.hardware)
        by_deployment: dict[int, list[Instance]] = defaultdict(list)
        for instance in instances:
            by_deployment[instance.deployment_id].append(instance)
        for deployment in deployments:
            used = self._scale(deployment, by_deployment[deployment.pk], work, used, now)
        self.meter.record(deployments, instances, work, now)
        metering.record_host(self.host, now)
        if time.monotonic() - self.last_seen_write >= SEEN_EVERY:
            Instance.objects.filter(pk__in=[i.pk for i in instances if i.is_online]).update(
                seen_at=now
            )
            self.last_seen_write = time.monotonic()

    # --- what is going on ------------------------------------------------------------------

    def _work(self, names: list[str]) -> dict[str, dict]:
        """Per deployment: how many wait, how many run, and the workers that hold them."""
        work: dict[str, dict] = {
            name: {"waiting": 0, "running": 0, "busy": set(), "setting_up": set()} for name in names
        }
        rows = Prediction.objects.filter(
            deployment__in=names,
            status__in=[Prediction.Status.STARTING, Prediction.Status.PROCESSING],
        ).values_list("deployment", "status", "claimed_at", "worker_id")
        for name, status, claimed_at, worker in rows:
            entry = work[name]
            if claimed_at is None:
                entry["waiting"] += 1
                continue
            entry["running"] += 1
            if status == Prediction.Status.PROCESSING:
                entry["busy"].add(worker)
            else:
                entry["setting_up"].add(worker)
        return work

    def _reap(self, instances: list[Instance], now) -> None:
        """Record the end of instances whose process is gone; kill those that overstay a stop."""
        for instance in instances:
            key = str(instance.pk)
            process = self.processes.get(key)
            if process is None:
                alive = bool(instance.pid) and procgroup.running(instance.pid)
                returncode = None if alive else 0
            else:
                returncode = process.poll()
            if returncode is None:
                sent = self.stop_sent.get(key)
                if sent and time.monotonic() - sent > settings.AUTOSCALER_STOP_TIMEOUT:
                    self._kill(instance)
                continue
            stopping = instance.state == Instance.State.STOPPING
            instance.state = Instance.State.STOPPED if stopping else Instance.State.FAILED
            instance.stopped_at = now
            if not stopping:
                instance.error = (
                    f"its worker ended on its own ({procgroup.exit_description(returncode)}); "
                    f"see {self.log_dir / (key + '.log')}"
                )
            instance.save(update_fields=["state", "stopped_at", "error"])
            self.processes.pop(key, None)
            self.stop_sent.pop(key, None)

    def _stop_unrecorded(self, recorded: set[str]) -> None:
        """Processes of ours whose instance row is gone (deleted with its deployment): stop
        them, and forget them once they ended."""
        for key, process in list(self.processes.items()):
            if key in recorded:
                continue
            if process.poll() is not None:
                self.processes.pop(key)
                self.stop_sent.pop(key, None)
            elif key not in self.stop_sent:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGTERM)
                self.stop_sent[key] = time.monotonic()
            elif time.monotonic() - self.stop_sent[key] > settings.AUTOSCALER_STOP_TIMEOUT:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)

    def _observe_states(self, instances: list[Instance], work, now) -> None:
        """starting -> idle once the worker beats; busy / setting up while it holds work."""
        if not instances:
            return
        pipe = redis_client().pipeline(transaction=False)
        for instance in instances:
            pipe.exists(alive_key(instance.worker_id))
            pipe.exists(setting_up_key(instance.worker_id))
        replies = pipe.execute()
        beating, preloading = replies[0::2], replies[1::2]
        holding = {}
        for entry in work.values():
            holding.update(dict.fromkeys(entry["setting_up"], Instance.State.SETTING_UP))
            holding.update(dict.fromkeys(entry["busy"], Instance.State.BUSY))
        for instance, beats, booting in zip(instances, beating, preloading, strict=True):
            if instance.state == Instance.State.STOPPING:
                continue
            state = holding.get(instance.worker_id)
            if state is None and booting:
                state = Instance.State.SETTING_UP
            elif state is None:
                state = Instance.State.IDLE if beats else Instance.State.STARTING
            fields = []
            if state != instance.state:
                instance.state = state
                fields.append("state")
            if state in (Instance.State.BUSY, Instance.State.SETTING_UP):
                instance.last_busy_at = now
                fields.append("last_busy_at")
            if fields:
                instance.save(update_fields=fields)

    # --- decisions -------------------------------------------------------------------------

    def _scale(self, deployment: Deployment, instances, work, used, now):
        release = deployment.current_release
        if release is None:
            return used
        entry = work.get(deployment.full_name, {"waiting": 0, "running": 0})
        rate, p50 = self.meter.recent(deployment.pk)
        obs = policy.Observation(
            min_instances=release.min_instances,
            max_instances=release.max_instances,
            off=deployment.is_off,
            waiting=entry["waiting"],
            running=entry["running"],
            arrivals_per_second=rate,
            latency_p50=p50,
        )
        target = policy.target(obs, settings.AUTOSCALER_PREDICTIONS_PER_INSTANCE)
        note = ""
        live = [i for i in instances if i.state != Instance.State.STOPPING]
        # A new release: old instances finish what they hold and stop; new ones start below.
        for instance in live:
            if instance.release_id != release.pk or obs.off:
                self._stop(instance)
        current = [i for i in live if i.release_id == release.pk and not obs.off]
        refusal = limits.is_blocked(deployment.owner) if len(current) < target else None
        if refusal is not None:
            note = f"not starting instances: {refusal.detail}"
        elif len(current) < target:
            need = capacity.demand(release.hardware)
            for _ in range(target - len(current)):
                if not (used + need).fits_in(capacity.machine()):
                    note = (
                        f"waiting for capacity: {target - len(current)} more instance(s) of "
                        f"{release.hardware.sku} wanted, and this machine's instances are full"
                    )
                    break
                used = used + need
                # Started to keep min_instances warm (no work waits): boot the model now.
                # Started for waiting work: its first prediction boots it, with the setup
                # logs in that prediction's logs.
                warm = entry["waiting"] == 0
                current.append(self._start(deployment, release, preload=warm))
        elif len(current) > target:
            idle = [
                i
                for i in current
                if i.state == Instance.State.IDLE
                and policy.may_stop(
                    i.last_busy_at, i.started_at, now, settings.AUTOSCALER_IDLE_SECONDS
                )
            ]
            for instance in idle[: len(current) - target]:
                self._stop(instance)
        if note != deployment.scaling_note:
            deployment.scaling_note = note
            Deployment.objects.filter(pk=deployment.pk).update(scaling_note=note)
        return used

    # --- processes -------------------------------------------------------------------------

    def _start(self, deployment: Deployment, release, *, preload: bool = False) -> Instance:
        instance = Instance(deployment=deployment, release=release, host=self.host)
        instance.worker_id = f"instance-{instance.pk}"
        instance.save()
        argv = [
            sys.executable,
            str(settings.BASE_DIR / "manage.py"),
            "worker",
            "--queues",
            deployment.queue_name,
            "--threads",
            "1",
        ]
        env = {**os.environ, "SELFREP_WORKER_ID": instance.worker_id, "SELFREP_BOOTSTRAP": "0"}
        if preload:
            env["SELFREP_PRELOAD_VERSION"] = str(release.version_id)
        log = open(self.log_dir / f"{instance.pk}.log", "ab")  # noqa: SIM115 (kept by the child)
        try:
            process = subprocess.Popen(
                argv,
                cwd=settings.BASE_DIR,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            log.close()
        self.processes[str(instance.pk)] = process
        instance.pid = process.pid
        instance.save(update_fields=["pid"])
        logger.info("started %s (release %s, pid %s)", instance, release.number, process.pid)
        return instance

    def _stop(self, instance: Instance) -> None:
        """Ask the worker to stop: Dramatiq finishes the message in hand and puts back what it
        prefetched (signal the main process only: a second SIGTERM abandons the message)."""
        key = str(instance.pk)
        if key not in self.stop_sent and instance.pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(instance.pid, signal.SIGTERM)
            self.stop_sent[key] = time.monotonic()
        instance.state = Instance.State.STOPPING
        instance.save(update_fields=["state"])

    def _kill(self, instance: Instance) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(instance.pid, signal.SIGKILL)

    def shutdown(self) -> None:
        """Stop every instance this supervisor started (its processes, whatever the database
        still says of them), and record when each stopped."""
        for key, process in self.processes.items():
            if key not in self.stop_sent and process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + KILL_AFTER_SHUTDOWN
        ended = {}
        for key, process in self.processes.items():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                logger.warning("instance %s did not stop in time; killing it", key)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)  # and whatever of its group outlived it
            process.wait()
            ended[key] = timezone.now()
        self.processes.clear()
        try:
            close_old_connections()
            for key, stopped_at in ended.items():
                Instance.objects.filter(pk=key, stopped_at__isnull=True).update(
                    state=Instance.State.STOPPED, stopped_at=stopped_at
                )
            self.meter.flush(timezone.now() + timedelta(minutes=1))
            metering.record_host(self.host, timezone.now())
        except Exception:  # the processes are stopped; a record that cannot be written is logged
            logger.exception("could not record the end of the instances")
