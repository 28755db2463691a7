"""Enqueue-to-completion latency of a no-op actor: stock Dramatiq Redis broker vs ours.

    .venv/bin/python bench/queue_latency.py [--idle-samples 40] [--rounds 10]

Starts one worker per configuration (`python -m dramatiq bench.queue_latency:setup_worker`,
one process, one thread, `dramatiq_queue_prefetch=1`, as `manage.py worker` runs them) on a
loopback Redis (REDIS_URL, default redis://127.0.0.1:6379/0), each in a namespace of its own:

- stock: Dramatiq's `RedisBroker` with its defaults;
- stock-100: the same, with `dramatiq_worker_timeout=100` (the known mitigation);
- ours: `apps.core.queue.WakingRedisBroker`.

The actor pushes onto a Redis list that the benchmark BLPOPs. Configurations are measured in
turns, so load changes on the machine hit all of them alike. Stops its workers by PID and
deletes its keys at the end.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import dramatiq

BASE_DIR = Path(__file__).resolve().parent.parent
QUEUE = "bench-noop"
CONFIGS = {
    "stock": {"broker": "stock", "env": {}},
    "stock-100": {"broker": "stock", "env": {"dramatiq_worker_timeout": "100"}},
    "ours": {"broker": "ours", "env": {}},
}
LABELS = {
    "stock": "stock RedisBroker, defaults",
    "stock-100": "stock, dramatiq_worker_timeout=100",
    "ours": "WakingRedisBroker (ours)",
}


def setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/0")
    # Settings create VAR_DIR; keep the checkout's var/ out of it.
    os.environ.setdefault("VAR_DIR", str(Path(tempfile.gettempdir()) / "selfrep-bench-var"))
    import django

    django.setup()


def make_broker(kind: str, namespace: str) -> dramatiq.Broker:
    from django.conf import settings

    if kind == "ours":
        from apps.core.queue import WakingRedisBroker

        return WakingRedisBroker(
            url=settings.REDIS_URL, namespace=namespace, **settings.REDIS_CONNECTION_OPTIONS
        )
    from dramatiq.brokers.redis import RedisBroker

    return RedisBroker(url=settings.REDIS_URL, namespace=namespace)


def declare_actor(broker: dramatiq.Broker) -> dramatiq.Actor:
    import redis
    from django.conf import settings

    results = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=None)

    def noop(key: str, seq: int) -> None:
        results.rpush(key, f"{seq} {time.time() * 1000}")

    return dramatiq.actor(noop, broker=broker, queue_name=QUEUE, actor_name="noop", max_retries=0)


def setup_worker() -> None:
    """Entry point for the worker processes (`dramatiq bench.queue_latency:setup_worker`)."""
    setup_django()
    broker = make_broker(os.environ["BENCH_BROKER"], os.environ["BENCH_NAMESPACE"])
    dramatiq.set_broker(broker)
    declare_actor(broker)


class Target:
    """One configuration: its worker process, and an actor to send to it."""

    def __init__(self, name: str, run_id: str, log_dir: Path):
        config = CONFIGS[name]
        self.name = name
        self.namespace = f"bench-{run_id}-{name}"
        self.key = f"{self.namespace}:done"
        self.actor = declare_actor(make_broker(config["broker"], self.namespace))
        self.seq = 0
        self.last_done = time.monotonic()
        self.log = log_dir / f"{name}.log"
        env = os.environ | config["env"]
        env |= {
            "BENCH_BROKER": config["broker"],
            "BENCH_NAMESPACE": self.namespace,
            "dramatiq_queue_prefetch": "1",
        }
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "dramatiq", "bench.queue_latency:setup_worker"]
                + ["--path", str(BASE_DIR), "--processes", "1", "--threads", "1"],
                cwd=BASE_DIR,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def once(self, results, timeout: float = 10) -> float:
        """Send one message and wait for the actor's reply; the latency in ms."""
        self.seq += 1
        started = time.perf_counter()
        self.actor.send(self.key, self.seq)
        reply = results.blpop([self.key], timeout=timeout)
        took = (time.perf_counter() - started) * 1000
        self.last_done = time.monotonic()
        if reply is None or int(reply[1].split()[0]) != self.seq:
            raise RuntimeError(f"{self.name}: no reply to {self.seq}; see {self.log}")
        return took

    def delayed_lateness(self, results, delay_ms: int) -> float:
        """Send a delayed message; how long after its eta the actor ran, in ms."""
        self.seq += 1
        message = self.actor.send_with_options(args=(self.key, self.seq), delay=delay_ms)
        reply = results.blpop([self.key], timeout=delay_ms / 1000 + 10)
        self.last_done = time.monotonic()
        if reply is None:
            raise RuntimeError(f"{self.name}: delayed message never ran; see {self.log}")
        return float(reply[1].split()[1]) - message.options["eta"]

    def stop(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)

    def wait_stopped(self) -> None:
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)  # its own session: only its children
            self.process.wait()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def back_to_back(targets: list[Target], results, rounds: int, per_round: int) -> dict:
    samples = {t.name: [] for t in targets}
    for _ in range(rounds):
        for target in targets:
            # The first two messages after the other configurations' turns are not back to back.
            for _ in range(2):
                target.once(results)
            samples[target.name] += [target.once(results) for _ in range(per_round)]
    return samples


def after_idle(targets: list[Target], results, count: int) -> dict:
    """Each configuration idles 1-2 s (drawn) before each message; their turns interleave."""
    samples = {t.name: [] for t in targets}
    due = {t.name: time.monotonic() + random.uniform(1, 2) for t in targets}
    while any(len(s) < count for s in samples.values()):
        target = min(
            (t for t in targets if len(samples[t.name]) < count), key=lambda t: due[t.name]
        )
        time.sleep(max(0, due[target.name] - time.monotonic()))
        samples[target.name].append(target.once(results))
        due[target.name] = time.monotonic() + random.uniform(1, 2)
    return samples


def delayed(targets: list[Target], results, count: int, delay_ms: int) -> dict:
    samples = {t.name: [] for t in targets}
    for _ in range(count):
        for target in targets:
            samples[target.name].append(target.delayed_lateness(results, delay_ms))
    return samples


def print_table(sections: list[tuple[str, dict]]) -> None:
    header = f"{'scenario':<30} {'configuration':<36} {'n':>4} {'p50 ms':>9} {'p95 ms':>9}"
    header += f" {'p50/ours':>9} {'p95/ours':>9}"
    print(header)
    print("-" * len(header))
    for title, samples in sections:
        ours = samples["ours"]
        ours_p50, ours_p95 = percentile(ours, 0.5), percentile(ours, 0.95)
        for name, values in samples.items():
            p50, p95 = percentile(values, 0.5), percentile(values, 0.95)
            ratio50 = f"{p50 / ours_p50:.1f}x" if ours_p50 > 0 else "-"
            ratio95 = f"{p95 / ours_p95:.1f}x" if ours_p95 > 0 else "-"
            print(
                f"{title:<30} {LABELS[name]:<36} {len(values):>4} {p50:>9.2f} {p95:>9.2f}"
                f" {ratio50:>9} {ratio95:>9}"
            )
            title = ""
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10, help="back-to-back turns per config")
    parser.add_argument("--per-round", type=int, default=20, help="measured messages per turn")
    parser.add_argument("--idle-samples", type=int, default=40, help="per configuration")
    parser.add_argument("--delayed-samples", type=int, default=8, help="per configuration")
    args = parser.parse_args()

    setup_django()
    import redis
    from django.conf import settings

    if settings.REDIS_URL.startswith("unix://"):
        parser.error("set REDIS_URL to a TCP Redis (the default is redis://127.0.0.1:6379/0)")
    results = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=None)
    run_id = uuid.uuid4().hex[:8]
    log_dir = Path(tempfile.mkdtemp(prefix="queue-latency-"))
    print(f"Redis {settings.REDIS_URL}, run {run_id}, worker logs in {log_dir}")
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start")
    started = time.monotonic()
    targets: list[Target] = []
    try:
        for name in CONFIGS:
            targets.append(Target(name, run_id, log_dir))
        for target in targets:
            target.once(results, timeout=60)  # the worker is up
            for _ in range(20):
                target.once(results)
        sections = [
            (
                "back-to-back (sequential)",
                back_to_back(targets, results, args.rounds, args.per_round),
            ),
            ("after 1-2 s idle", after_idle(targets, results, args.idle_samples)),
        ]
        if args.delayed_samples:
            title = "delay=300 ms: run after eta"
            sections.append((title, delayed(targets, results, args.delayed_samples, 300)))
    finally:
        for target in targets:
            target.stop()
        for target in targets:
            target.wait_stopped()
            keys = list(results.scan_iter(f"{target.namespace}:*"))
            if keys:
                results.delete(*keys)
    print(f"load average {os.getloadavg()[0]:.2f} at end, {time.monotonic() - started:.0f} s\n")
    print_table(sections)


if __name__ == "__main__":
    sys.path.insert(0, str(BASE_DIR))
    main()
