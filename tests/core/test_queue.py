"""The waking Redis broker, with real Redis, real worker processes and real consumers."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter

import pytest
from django.conf import settings
from dramatiq import Message

from apps.core.queue import WakingRedisBroker, broker
from apps.core.redis import client
from tests.core.queue_actors import QUEUE, record

READY = "Worker process is ready for action."


class WorkerProcess:
    """`dramatiq config.worker` serving only the test queue, one message at a time."""

    def __init__(self, env: dict[str, str]):
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "dramatiq",
                "config.worker",
                "tests.core.queue_actors",
                "--processes",
                "1",
                "--threads",
                "1",
                "--queues",
                QUEUE,
            ],
            cwd=settings.BASE_DIR,
            env=env | {"dramatiq_queue_prefetch": "1"},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self.ready = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line)
            if READY in line:
                self.ready.set()

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_ready(self) -> None:
        assert self.ready.wait(60), f"the worker did not start:\n{self.output}"

    def stop(self, timeout: float = 30) -> float:
        """SIGTERM the worker; return how long it took to exit."""
        started = time.monotonic()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise
        return time.monotonic() - started


@pytest.fixture
def start_worker(process_env):
    """Start test-queue workers; every one of them is stopped, and must stop cleanly."""
    broker.flush(QUEUE)
    workers: list[WorkerProcess] = []

    def start() -> WorkerProcess:
        worker = WorkerProcess(process_env)
        workers.append(worker)
        worker.wait_ready()
        return worker

    yield start
    for worker in workers:
        worker.stop()
        assert worker.process.returncode == 0, worker.output
    broker.flush(QUEUE)


@pytest.fixture
def key():
    key = f"test:queue:{uuid.uuid4().hex}"
    yield key
    client().delete(key)


def wait_for(key: str, count: int, timeout: float) -> list[list[str]]:
    """The first `count` records pushed onto the key, as [token, pid, time]."""
    deadline = time.monotonic() + timeout
    while client().llen(key) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return [item.decode().split() for item in client().lrange(key, 0, -1)]


def test_competing_workers_run_each_message_of_a_burst_exactly_once(start_worker, key):
    start_worker()
    start_worker()

    for i in range(200):
        record.send(key, str(i), 0.002)

    wait_for(key, 200, timeout=60)
    time.sleep(1)  # a message delivered twice would show up by now
    records = wait_for(key, 200, timeout=0)
    assert Counter(token for token, _pid, _at in records) == {str(i): 1 for i in range(200)}
    assert len({pid for _token, pid, _at in records}) == 2, "both workers should take messages"
    # Every message was acked: nothing is left in the queue or held by a worker.
    assert client().hlen(f"{broker.namespace}:{QUEUE}.msgs") == 0


def test_a_delayed_message_runs_after_its_delay(start_worker, key):
    start_worker()

    message = record.send_with_options(args=(key, "late"), delay=1500)

    records = wait_for(key, 1, timeout=15)
    assert len(records) == 1, "the delayed message never ran"
    [[_token, _pid, ran_at]] = records
    assert float(ran_at) * 1000 >= message.options["eta"]


def test_an_idle_worker_picks_up_a_new_message(start_worker, key):
    start_worker()
    record.send(key, "warm-up")
    assert wait_for(key, 1, timeout=15), "the worker did not answer"

    client().delete(key)
    time.sleep(3.5)
    record.send(key, "after idling")

    reply = client().blpop([key], timeout=5)
    assert reply is not None, "the idle worker did not pick the message up"
    assert reply[1].decode().startswith("after idling ")


def test_an_idle_worker_stops_promptly_on_sigterm(start_worker):
    worker = start_worker()
    time.sleep(2)

    took = worker.stop(timeout=30)

    assert worker.process.returncode == 0, worker.output
    assert took < 10, f"stopping took {took:.1f} s"


@pytest.fixture
def own_broker():
    """A broker in a namespace of its own, whose consumers block for up to 10 s at a time."""
    own = WakingRedisBroker(
        url=settings.REDIS_URL,
        namespace=f"test-queue-{uuid.uuid4().hex}",
        max_block_ms=10_000,
        **settings.REDIS_CONNECTION_OPTIONS,
    )
    yield own
    keys = list(own.client.scan_iter(f"{own.namespace}:*"))
    if keys:
        own.client.delete(*keys)


def new_message() -> Message:
    return Message(queue_name="q", actor_name="noop", args=(), kwargs={}, options={})


def next_in_thread(consumer) -> tuple[threading.Thread, list]:
    got: list = []
    thread = threading.Thread(target=lambda: got.append(next(consumer)), daemon=True)
    thread.start()
    return thread, got


def test_a_consumer_at_its_prefetch_limit_leaves_the_wake_up_to_an_idle_one(own_broker):
    busy = own_broker.consume("q", prefetch=1, timeout=10_000)
    idle = own_broker.consume("q", prefetch=1, timeout=10_000)
    first = own_broker.enqueue(new_message())
    held = next(busy)
    assert held.message_id == first.message_id

    # The busy consumer starts waiting first: had it blocked on the wake-ups too, Redis would
    # hand it the next one, first come first served.
    busy_thread, busy_got = next_in_thread(busy)
    time.sleep(0.3)
    idle_thread, idle_got = next_in_thread(idle)
    time.sleep(0.3)  # the idle consumer found the queue empty and blocks
    second = own_broker.enqueue(new_message())

    # A lost wake-up would leave the idle consumer blocked until its 10 s timeout, then None.
    idle_thread.join(timeout=15)
    assert [m.message_id for m in idle_got] == [second.message_id]

    # Once its message is done, the busy consumer takes the next one.
    busy.ack(held)
    third = own_broker.enqueue(new_message())
    busy_thread.join(timeout=15)
    assert [m.message_id for m in busy_got] == [third.message_id]
    idle.ack(idle_got[0])
    busy.ack(busy_got[0])
    assert own_broker.client.hlen(f"{own_broker.namespace}:q.msgs") == 0


def test_an_idle_consumer_drops_wake_ups_left_by_messages_fetched_without_them(own_broker):
    for _ in range(2000):
        own_broker.enqueue(new_message())
    consumer = own_broker.consume("q", prefetch=5000, timeout=200)

    taken = [next(consumer) for _ in range(2000)]  # one fetch takes all, leaving the wake-ups

    # Rather than waking up 2000 times for nothing, it drops them as it finds the queue empty.
    assert next(consumer) is None
    assert own_broker.client.llen(own_broker.wake_key("q")) == 0
    for message in taken:
        consumer.ack(message)
