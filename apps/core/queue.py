"""The Dramatiq broker shared by the web process and the workers.

Stock Dramatiq's Redis consumer polls: after an empty fetch it sleeps with a growing back-off,
up to `dramatiq_worker_timeout` (1 s), so an idle worker starts a new message ~0.5 s late, and a
one-at-a-time worker sleeps 5-10 ms (up to 1 s after a long job) before it fetches the next one.
`WakingRedisBroker` keeps Dramatiq's keys and Lua script as they are (acks, nacks, heartbeats,
dead-worker requeue, delay queues, dead letters) and adds wake-ups next to the poll:

- every enqueue (and every requeue) pushes a token onto the queue's wake list, after the message
  is in the queue;
- a consumer with room for a message whose fetch comes back empty blocks on the wake list
  (BLPOP, at most `max_block_ms`, so that a stopping worker notices) instead of sleeping, and
  fetches as soon as it pops a token;
- a consumer at its prefetch limit never pops a token (it could not fetch the message the token
  stands for): it waits for one of its own messages to be acked, then fetches at once;
- a delay-queue consumer blocks no longer than the earliest eta it holds.

Why no wake-up is lost: fetching stays the only way to take a message (the atomic LPOP in
Dramatiq's script), so tokens decide only *when* a consumer fetches. A consumer blocks only
right after an empty fetch, and a token stays in its list until someone pops it, so a message
enqueued after that fetch always leaves a token behind it, whoever pops it fetches right
after, and a consumer that got a message fetches again before it blocks again. A list, unlike
pub/sub, keeps a token pushed while nobody listens, and wakes one consumer per message rather
than all of them. Tokens left by messages that were fetched without one (busy workers) are
dropped when a consumer finds the queue empty, where no message can be waiting for them.
Messages that come back without a token (the dead-worker requeue inside Dramatiq's script)
are still found by the next fetch, at most `max_block_ms` later.
"""

from __future__ import annotations

import threading
import time

import dramatiq
import redis
from django.conf import settings
from dramatiq.broker import MessageProxy
from dramatiq.brokers.redis import RedisBroker, _RedisConsumer
from dramatiq.common import current_millis, dq_name
from dramatiq.errors import ConnectionClosed
from dramatiq.message import Message
from redis.backoff import NoBackoff
from redis.retry import Retry

#: The longest a consumer blocks in one go, so that a stopping worker stops within about that.
MAX_BLOCK_MS = 1000

# Shorter waits are slept: a BLPOP timeout that rounds down to zero would block forever.
_MIN_BLOCK_S = 0.01

# Redis expires blocking commands on its cron tick (10 Hz by default), up to this much late;
# waits for an eta end this much early on BLPOP and sleep the rest.
_REDIS_TICK_S = 0.1

# Returns how many messages wait in the queue, and drops the wake tokens when none does.
_CLEAR_WAKEUPS_IF_EMPTY = """
local waiting = redis.call("llen", KEYS[1])
if waiting == 0 then
    redis.call("del", KEYS[2])
end
return waiting
"""


def deployment_queue(full_name: str) -> str:
    """The queue of the deployment `owner/name`: only its instances consume it. Account names
    have no dots, so the first dot after the prefix always ends the owner."""
    owner, name = full_name.split("/", 1)
    return f"deployment.{owner.lower()}.{name.lower()}"


def redis_ready() -> None:
    """In embedded mode, make sure the embedded Redis answers, starting a detached one if not.

    For processes started on their own (`manage.py worker`); `manage.py up` runs its own.
    """
    if settings.EMBEDDED_REDIS:
        from apps.core import embedded_redis

        embedded_redis.ensure_running(settings.EMBEDDED_REDIS_SOCKET, settings.VAR_DIR / "redis")


class WakingRedisBroker(RedisBroker):
    """Dramatiq's Redis broker whose idle consumers are woken by new messages."""

    def __init__(
        self,
        *,
        url: str,
        namespace: str = "dramatiq",
        middleware=None,
        max_block_ms: int = MAX_BLOCK_MS,
        **options,
    ) -> None:
        # Stock RedisBroker drops the connection options when given a URL; apply them.
        super().__init__(
            namespace=namespace,
            middleware=middleware,
            client=redis.Redis.from_url(url, **options),
        )
        self.max_block_ms = max_block_ms
        # Blocking reads get their own pool, with a socket timeout above the longest block, and
        # one reconnect but no retry after a timeout: a dead server surfaces as an error.
        wake_options = options | {
            "socket_timeout": max_block_ms / 1000 + 5,
            "retry": Retry(NoBackoff(), 1, supported_errors=(redis.ConnectionError,)),
        }
        self.wake_client = redis.Redis.from_url(url, **wake_options)
        self.clear_wakeups_if_empty = self.client.register_script(_CLEAR_WAKEUPS_IF_EMPTY)
        self._enqueue = self._dispatch("enqueue")

    @property
    def consumer_class(self):
        return _WakingConsumer

    def queue_key(self, queue_name: str) -> str:
        return f"{self.namespace}:{queue_name}"

    def wake_key(self, queue_name: str) -> str:
        return f"{self.namespace}:__wakeups__.{queue_name}"

    def do_enqueue(self, queue_name: str, message_id: str, data: bytes) -> None:
        # `queue_name` is the delay queue for delayed messages, so their consumers wake too.
        self._enqueue(queue_name, message_id, data)
        self.wake(queue_name)

    def wake(self, queue_name: str, count: int = 1) -> None:
        self.client.lpush(self.wake_key(queue_name), *[b"1"] * count)

    def flush(self, queue_name: str) -> None:
        super().flush(queue_name)
        self.client.delete(self.wake_key(queue_name), self.wake_key(dq_name(queue_name)))


class _WakingConsumer(_RedisConsumer):
    def __init__(self, broker: WakingRedisBroker, queue_name, prefetch, timeout):
        super().__init__(broker, queue_name, prefetch, timeout)
        self.block_s = min(timeout, broker.max_block_ms) / 1000
        self.queue_key = broker.queue_key(queue_name)
        self.wake_key = broker.wake_key(queue_name)
        self.room = threading.Event()
        # Etas of the delayed messages handed out and not acked yet (delay queues only).
        self.etas: dict[str, int | float] = {}

    def ack(self, message):
        try:
            super().ack(message)
        finally:
            self._forget(message)

    def nack(self, message):
        try:
            super().nack(message)
        finally:
            self._forget(message)

    def requeue(self, messages):
        messages = list(messages)
        super().requeue(messages)
        for message in messages:
            self.etas.pop(message.message_id, None)
        if messages:
            self.broker.wake(self.queue_name, len(messages))

    def _forget(self, message) -> None:
        self.etas.pop(message.message_id, None)
        self.room.set()

    def __next__(self):
        deadline = time.monotonic() + self.block_s
        try:
            while True:
                if self.message_cache:
                    data = self.message_cache.pop(0)
                    if data is None:
                        self.logger.warning("Message vanished from queue %r.", self.queue_name)
                        continue
                    return self._hand_out(Message.decode(data))

                # Cleared before the check, so an ack in between leaves it set.
                self.room.clear()
                if self.outstanding_message_count >= self.prefetch:
                    if self._wait_for_room(deadline):
                        continue
                    return None

                self.message_cache = self.broker.do_fetch(
                    self.queue_name, self.prefetch - self.outstanding_message_count
                )
                if not self.message_cache and not self._wait_for_wakeup(deadline):
                    return None
        except (redis.ConnectionError, redis.TimeoutError) as e:
            raise ConnectionClosed(e) from None

    def _hand_out(self, message: Message) -> MessageProxy:
        self.queued_message_ids.add(message.message_id)
        eta = message.options.get("eta")
        if isinstance(eta, int | float):
            self.etas[message.message_id] = eta
        return MessageProxy(message)

    def _budget(self, deadline: float) -> tuple[float, bool]:
        """Seconds this call may still wait, and whether an eta held (not the deadline) ends it."""
        budget = deadline - time.monotonic()
        etas = tuple(self.etas.values())
        if etas and (until_eta := (min(etas) - current_millis()) / 1000) < budget:
            return until_eta, True
        return budget, False

    def _wait_for_room(self, deadline: float) -> bool:
        budget, _ = self._budget(deadline)
        if budget < _MIN_BLOCK_S:
            time.sleep(max(budget, 0))
            return False
        return self.room.wait(budget)

    def _wait_for_wakeup(self, deadline: float) -> bool:
        """Block until a message may be waiting (True) or the wait is over (False)."""
        budget, until_eta = self._budget(deadline)
        if budget < (_REDIS_TICK_S if until_eta else _MIN_BLOCK_S):
            time.sleep(max(budget, 0))
            return False
        if self.broker.clear_wakeups_if_empty(keys=[self.queue_key, self.wake_key]):
            return True
        timeout = max(budget - _REDIS_TICK_S, _MIN_BLOCK_S) if until_eta else budget
        return self.broker.wake_client.blpop([self.wake_key], timeout=round(timeout, 3)) is not None


broker = WakingRedisBroker(
    url=settings.REDIS_URL,
    namespace=settings.DRAMATIQ_NAMESPACE,
    **settings.REDIS_CONNECTION_OPTIONS,
)
dramatiq.set_broker(broker)
