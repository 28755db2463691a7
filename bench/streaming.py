"""Streaming: from the model's `yield` to a websocket watcher and to an SSE client, per token.

    VAR_DIR=/tmp/bench-x EMBEDDED_REDIS_NAME=bench .venv/bin/python bench/streaming.py [--quick]

The model (bench/models/clock-stream) stamps each token with time.monotonic() as it yields it;
watchers subtract the stamp from their own monotonic clock on arrival (CLOCK_MONOTONIC is
shared by every process on the machine). Measured in one run:

- one websocket watcher (`ws/predictions/<id>/`, the web pages' socket; the prediction is
  shared so no session is needed), and, beside it, a plain Redis reader of the prediction's
  event log (`XREAD` on `selfrep:events:<id>`) in another process: yield -> event log is the
  worker's part, the rest is the web process's;
- one SSE client on `urls.stream`;
- 100 websocket watchers of one prediction yielding 50 tokens/s: every delivery's latency,
  the last watcher's per token, and lost or duplicated tokens per watcher;
- the Redis floor: PUBLISH -> SUBSCRIBE and XADD -> XREAD BLOCK one-way between two
  processes, on the same Redis.

Target (the issue): p50 <= 3 ms from yield to watcher.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

from harness import (
    BENCH_DIR,
    PYTHON,
    Client,
    CpuMeter,
    Platform,
    Results,
    WebSocketWatcher,
    arguments,
    bench_account,
    finish,
    fmt,
    markdown_table,
    ms,
    push,
    ratio,
    scenario_processes,
    setup_django,
    sse_events,
    summary,
)

TOKEN = re.compile(r"(\d+)@(\d+\.\d+)")
TARGET_P50_MS = 3.0
RATE = 50.0  # tokens per second


# --- the Redis floor (a reader in another process) ---------------------------------------


def reader_main(url: str, kind: str, key: str, count: int) -> None:
    """Child process (no Django, to start fast): read `count` messages from the Redis at
    `url`, print their one-way latencies (ms) as JSON."""
    import redis as redis_py

    redis = redis_py.Redis.from_url(url, socket_timeout=None)
    latencies: list[float] = []
    if key == "-":  # the key comes later, on stdin (the prediction does not exist yet)
        print("ready", flush=True)
        key = sys.stdin.readline().strip()
    if kind == "pubsub":
        pubsub = redis.pubsub(ignore_subscribe_messages=True)
        pubsub.subscribe(key)
        print("ready", flush=True)
        deadline = time.monotonic() + 120
        while len(latencies) < count and time.monotonic() < deadline:
            message = pubsub.get_message(timeout=1.0)  # None also for the subscribe reply
            if message is not None:
                latencies.append(ms(time.monotonic() - float(message["data"])))
    else:
        if key != "-":
            print("ready", flush=True)
        last = "0-0"
        deadline = time.monotonic() + 120
        while len(latencies) < count and time.monotonic() < deadline:
            reply = redis.xread({key: last}, block=10000, count=1000)
            now = time.monotonic()
            if not reply:
                continue
            for entry_id, fields in reply[0][1]:
                last = entry_id
                if kind == "xadd":
                    latencies.append(ms(now - float(fields[b"t"])))
                elif fields[b"k"] == b"output":  # a prediction's event log
                    for _index, stamp in TOKEN.findall(json.loads(fields[b"d"])):
                        latencies.append(ms(now - float(stamp)))
                elif fields[b"k"] == b"done":  # the prediction is over (failed, maybe)
                    count = 0
    print(json.dumps(latencies), flush=True)


READERS: list[subprocess.Popen] = []  # stopped by readers_stopped() in any case


def start_reader(kind: str, key: str, count: int) -> subprocess.Popen:
    from django.conf import settings

    argv = [PYTHON, str(BENCH_DIR / "streaming.py"), "--reader", settings.REDIS_URL]
    reader = subprocess.Popen(
        [*argv, kind, key, str(count)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    READERS.append(reader)
    if reader.stdout.readline().strip() != "ready":
        raise RuntimeError(f"the {kind} reader did not start")
    return reader


def reader_result(reader: subprocess.Popen) -> list[float]:
    out, _ = reader.communicate(timeout=120)
    READERS.remove(reader)
    return json.loads(out.strip().splitlines()[-1])


@contextlib.contextmanager
def readers_stopped() -> Iterator[None]:
    try:
        yield
    finally:
        for reader in READERS:
            if reader.poll() is None:
                reader.kill()
            reader.wait()
        READERS.clear()


def redis_floor(count: int, warmup: int = 50) -> dict[str, list[float]]:
    from apps.core.redis import client

    redis = client()
    floors = {}
    for kind in ("pubsub", "xadd"):
        key = f"bench:floor:{kind}"
        redis.delete(key)
        reader = start_reader(kind, key, count + warmup)
        time.sleep(0.2)
        for _ in range(count + warmup):
            if kind == "pubsub":
                redis.publish(key, f"{time.monotonic():.9f}")
            else:
                redis.xadd(key, {"t": f"{time.monotonic():.9f}"})
            time.sleep(0.001)  # one at a time: no queueing
        floors[kind] = reader_result(reader)[warmup:]
        redis.delete(key)
    return floors


# --- watchers ----------------------------------------------------------------------------


class Tally:
    """What one watcher received: token index -> latencies (ms), and whether it saw done."""

    def __init__(self) -> None:
        self.latencies: dict[int, list[float]] = {}
        self.done = False

    def add(self, text: str, arrived: float) -> None:
        for index, stamp in TOKEN.findall(text):
            self.latencies.setdefault(int(index), []).append(ms(arrived - float(stamp)))

    def lost(self, tokens: int) -> int:
        return sum(1 for i in range(tokens) if i not in self.latencies)

    def duplicated(self) -> int:
        return sum(len(v) - 1 for v in self.latencies.values())


async def websocket_watchers(
    port: int, prediction_id: str, count: int, timeout: float, on_connected=None
):
    tallies = [Tally() for _ in range(count)]

    def handler(tally: Tally):
        def on_message(text: str, arrived: float) -> None:
            message = json.loads(text)
            if message["type"] == "output":
                tally.add(message["data"], arrived)
            elif message["type"] == "done":
                tally.done = True

        return on_message

    path = f"/ws/predictions/{prediction_id}/"
    watchers = await asyncio.gather(
        *(WebSocketWatcher.connect(port, path, handler(t)) for t in tallies)
    )
    connected = time.monotonic()
    if on_connected:
        on_connected()
    deadline = time.monotonic() + timeout
    while not all(t.done for t in tallies) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    for watcher in watchers:
        watcher.close()
    return tallies, connected


async def sse_watcher(port: int, path: str) -> Tally:
    tally = Tally()
    async for event, _event_id, data, arrived in sse_events(port, path):
        if event == "output":
            tally.add(data, arrived)
        elif event == "done":
            tally.done = True
            break
    return tally


def create(api: Client, digest: str, **inputs) -> dict:
    status, body = api.request(
        "POST", "/v1/predictions", {"version": digest, "input": inputs}, headers={}
    )
    if status != 201:
        raise RuntimeError(f"create answered {status}: {body}")
    return body


def share(prediction_id: str) -> None:
    from apps.predictions.models import Prediction

    Prediction.objects.filter(pk=prediction_id).update(is_shared=True)


def wait_done(api: Client, prediction_id: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _status, body = api.request("GET", f"/v1/predictions/{prediction_id}", headers={})
        if body["status"] == "succeeded":
            return body
        if body["status"] in ("failed", "canceled"):
            raise RuntimeError(f"prediction {prediction_id} {body['status']}: {body['error']}")
        time.sleep(0.1)
    raise RuntimeError(f"prediction {prediction_id} did not finish")


def main() -> None:
    args = arguments(__doc__.splitlines()[0])
    setup_django()
    from apps.predictions.events import stream_key

    quick = args.quick
    single_tokens = 15 if quick else 300
    crowd_sizes, many_tokens = ([3, 10], 15) if quick else ([10, 100], 250)
    floor_count = 50 if quick else 1000
    results = Results("streaming")
    with scenario_processes("streaming") as processes, readers_stopped():
        user, token = bench_account()
        version = push(user.account, "clock-stream", BENCH_DIR / "models" / "clock-stream")
        platform = Platform(processes)
        api = Client(platform.port, {"Authorization": f"Bearer {token}"})
        # Cold boot of the model process, then a warm-up stream.
        for _ in range(2):
            wait_done(api, create(api, version.digest, tokens=5, rate=1000)["id"])

        floors = redis_floor(floor_count)

        # One websocket watcher, and a plain Redis reader of the event log beside it.
        log_reader = start_reader("events", "-", single_tokens)
        prediction = create(
            api, version.digest, tokens=single_tokens, rate=RATE, start_delay=0.5 if quick else 1.0
        )
        share(prediction["id"])
        log_reader.stdin.write(stream_key(prediction["id"]) + "\n")
        log_reader.stdin.flush()
        (ws_tally,), _ = asyncio.run(
            websocket_watchers(platform.port, prediction["id"], 1, single_tokens / RATE + 30)
        )
        event_log = reader_result(log_reader)
        wait_done(api, prediction["id"])

        # One SSE client.
        prediction = create(api, version.digest, tokens=single_tokens, rate=RATE, start_delay=0.5)
        stream_path = urlsplit(prediction["urls"]["stream"]).path
        sse_tally = asyncio.run(sse_watcher(platform.port, stream_path))
        wait_done(api, prediction["id"])

        # Many websocket watchers of one prediction.
        crowds = []
        for count in crowd_sizes:
            prediction = create(
                api,
                version.digest,
                tokens=many_tokens,
                rate=RATE,
                start_delay=0.5 if quick else 1.0 + count * 0.03,
            )
            share(prediction["id"])
            meter = CpuMeter({"web (daphne)": [platform.web.pid]})
            tallies, connected = asyncio.run(
                websocket_watchers(
                    platform.port,
                    prediction["id"],
                    count,
                    many_tokens / RATE + 30,
                    on_connected=meter.start,  # CPU while the tokens flow, not while connecting
                )
            )
            cpu = meter.stop()
            final = wait_done(api, prediction["id"])
            first_token = min(
                (float(m.group(2)) for m in TOKEN.finditer("".join(final["output"] or []))),
                default=0.0,
            )
            crowds.append(
                {"tallies": tallies, "cpu": cpu, "connected_before_first": connected <= first_token}
            )
        api.close()

    report(
        results,
        floors=floors,
        ws=ws_tally,
        event_log=event_log,
        sse=sse_tally,
        crowds=crowds,
        single_tokens=single_tokens,
        many_tokens=many_tokens,
    )
    finish(results, args.json)


def report(
    results: Results,
    *,
    floors,
    ws,
    event_log,
    sse,
    crowds,
    single_tokens,
    many_tokens,
) -> None:
    pubsub = summary(floors["pubsub"])
    xadd = summary(floors["xadd"])
    floor_text = f"PUBLISH->SUBSCRIBE {fmt(pubsub['p50'])} / {fmt(pubsub['p95'])} ms"

    def add(what: str, values: list[float], lost: int, duplicated: int, target: bool = True):
        stats = summary(values)
        results.add_summary(
            what,
            stats,
            value=f"lost {lost}, duplicated {duplicated}",
            versus=floor_text,
            ratio=f"p50 {ratio(stats['p50'], pubsub['p50'])}",
            target=f"p50 <= {TARGET_P50_MS:g} ms" if target else "",
            met=(stats["p50"] <= TARGET_P50_MS and lost == 0 and duplicated == 0)
            if target
            else None,
        )
        return stats

    def values(tally: Tally) -> list[float]:
        return [v for latencies in tally.latencies.values() for v in latencies]

    add(
        "yield -> 1 websocket watcher, per token",
        values(ws),
        ws.lost(single_tokens),
        ws.duplicated(),
    )
    add(
        "yield -> 1 SSE client (urls.stream), per token",
        values(sse),
        sse.lost(single_tokens),
        sse.duplicated(),
    )
    scaling = []
    for crowd in crowds:
        tallies = crowd["tallies"]
        every = [v for t in tallies for v in values(t)]
        lost = sum(t.lost(many_tokens) for t in tallies)
        duplicated = sum(t.duplicated() for t in tallies)
        add(
            f"{len(tallies)} websocket watchers, {RATE:g} tokens/s, each delivery",
            every,
            lost,
            duplicated,
        )
        last = [
            max(t.latencies[i][0] for t in tallies if i in t.latencies)
            for i in range(many_tokens)
            if any(i in t.latencies for t in tallies)
        ]
        first = [
            min(t.latencies[i][0] for t in tallies if i in t.latencies)
            for i in range(many_tokens)
            if any(i in t.latencies for t in tallies)
        ]
        cpu = crowd["cpu"]
        web = cpu["web (daphne)"]
        stats, last_stats, first_stats = summary(every), summary(last), summary(first)
        scaling.append(
            [
                len(tallies),
                len(every),
                fmt(stats["p50"]),
                fmt(stats["p95"]),
                fmt(stats["p99"]),
                fmt(first_stats["p50"]),
                fmt(last_stats["p50"]),
                fmt(web / cpu["_wall"]),
                fmt(web * 1e6 / max(1, len(every)), 0),
                fmt(cpu["load generator (this script)"] / cpu["_wall"]),
                f"{lost} / {duplicated}",
                "yes" if crowd["connected_before_first"] else "NO",
                "yes" if all(t.done for t in tallies) else "NO",
            ]
        )
    one = summary(values(ws))
    scaling.insert(
        0,
        [1, one["n"], fmt(one["p50"]), fmt(one["p95"]), fmt(one["p99"])]
        + [fmt(one["p50"]), fmt(one["p50"])]
        + ["", "", "", f"{ws.lost(single_tokens)} / {ws.duplicated()}", "yes", "yes"],
    )
    tallies = crowds[-1]["tallies"]
    last = [
        max(t.latencies[i][0] for t in tallies if i in t.latencies)
        for i in range(many_tokens)
        if any(i in t.latencies for t in tallies)
    ]
    add(f"{len(tallies)} watchers: the last watcher, per token", last, lost, duplicated, False)
    log_stats = summary(event_log)
    results.add_summary(
        "yield -> event log (Redis XREAD reader), per token",
        log_stats,
        versus=f"XADD->XREAD {fmt(xadd['p50'])} / {fmt(xadd['p95'])} ms",
        ratio=f"p50 {ratio(log_stats['p50'], xadd['p50'])}",
    )
    results.add_summary("Redis PUBLISH -> SUBSCRIBE one-way (floor)", pubsub)
    results.add_summary("Redis XADD -> XREAD BLOCK one-way (floor)", xadd)

    ws_stats = summary(values(ws))
    rows = [
        ["model yield -> event log in Redis (Cog SSE -> worker -> XADD)", log_stats],
        ["model yield -> websocket watcher (+ daphne XREAD -> send)", ws_stats],
    ]
    results.section(
        "Streaming: where a token's time goes (one watcher)",
        "The same prediction watched by one websocket watcher and, in another process, by a "
        "plain Redis reader of its event log; the difference is the web process's share.\n\n"
        + markdown_table(
            ["path", "p50 ms", "p95 ms", "p99 ms"],
            [[name, fmt(s["p50"]), fmt(s["p95"]), fmt(s["p99"])] for name, s in rows],
        ),
    )
    results.section(
        "Streaming: one prediction, many websocket watchers",
        f"Each watcher of one prediction yielding {many_tokens} tokens at {RATE:g}/s; the "
        "web process's CPU is measured while the tokens flow (after every watcher has "
        "connected). A token's first and last watcher: the smallest and the largest of its "
        "deliveries' latencies.\n\n"
        + markdown_table(
            [
                "watchers",
                "deliveries",
                "p50 ms",
                "p95 ms",
                "p99 ms",
                "first watcher p50 ms",
                "last watcher p50 ms",
                "daphne cores",
                "daphne CPU us per delivery",
                "watchers' process cores",
                "lost / duplicated",
                "connected before the first token",
                "all saw `done`",
            ],
            scaling,
        ),
    )
    results.section(
        "Streaming: method",
        f"Single watchers: {single_tokens} tokens at {RATE:g}/s each (websocket, then SSE, on "
        "separate predictions); many watchers: see above. Websocket frames are "
        "stamped when their bytes reach the watchers' process (asyncio protocol), SSE events "
        "when their chunk is read. Redis floor: "
        f"{len(floors['pubsub'])} messages each way, 1 ms apart, reader in another process, "
        "over the embedded Redis' unix socket.",
    )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--reader":
        reader_main(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
    else:
        main()
