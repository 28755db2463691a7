"""Platform overhead: `POST /v1/predictions` + `Prefer: wait` vs the same predictor on Cog.

    VAR_DIR=/tmp/bench-x EMBEDDED_REDIS_NAME=bench .venv/bin/python bench/overhead.py [--quick]

Pushes models/hello-world, starts the platform (daphne, one prediction worker, the services
worker) and, beside it, Cog's own server (`python -m cog.server.http`) for the same directory
in the same environment with the same schema. One keep-alive client (http.client) sends the
same body to both, one request at a time:

- warm: back to back, the two servers in alternating turns (so load on the machine hits both);
- after idleness: each server idles 2 s before each request, their turns staggered.

The direct Cog client retries at once on Cog's 409 (its slot-release race); retries count in
its latency. Targets (the issue): platform p50 within 5 ms of direct Cog and p95 within 15 ms,
warm and after idleness.

Diagnostics, in the same run: the platform's time split by the timestamps it stores (created,
claimed by a worker, predict() started, completed); the worker's request to Cog replayed
against a Cog server, beside the way it used to send it and other variants; CPU per request
of each process, by kind of API request.
"""

from __future__ import annotations

import copy
import http.client
import json
import time

import httpx
from harness import (
    BASE_DIR,
    Client,
    CogServer,
    CpuMeter,
    Platform,
    Results,
    arguments,
    bench_account,
    environment_for,
    finish,
    fmt,
    markdown_table,
    ms,
    percentile,
    push,
    ratio,
    redis_pid,
    scenario_processes,
    setup_django,
    summary,
)

IDLE_SECONDS = 2.0
TARGET_P50_MS, TARGET_P95_MS = 5.0, 15.0


class Target:
    def __init__(self, name: str, send) -> None:
        self.name = name
        self.send = send
        self.last_done = time.monotonic()

    def once(self) -> float:
        started = time.perf_counter()
        self.send()
        took = time.perf_counter() - started
        self.last_done = time.monotonic()
        return ms(took)


def back_to_back(targets: list[Target], rounds: int, per_round: int) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {t.name: [] for t in targets}
    for _ in range(rounds):
        for target in targets:
            target.once()  # the first after the other's turn is not back to back
            samples[target.name] += [target.once() for _ in range(per_round)]
    return samples


def after_idle(targets: list[Target], count: int, idle: float) -> dict[str, list[float]]:
    """Each target idles `idle` seconds before each request; their turns are staggered."""
    samples: dict[str, list[float]] = {t.name: [] for t in targets}
    stagger = idle / len(targets)
    now = time.monotonic()
    due = {t.name: now + idle + i * stagger for i, t in enumerate(targets)}
    while any(len(s) < count for s in samples.values()):
        target = min(
            (t for t in targets if len(samples[t.name]) < count), key=lambda t: due[t.name]
        )
        time.sleep(max(0.0, due[target.name] - time.monotonic()))
        samples[target.name].append(target.once())
        due[target.name] = target.last_done + idle
    return samples


def main() -> None:
    args = arguments(__doc__.splitlines()[0])
    setup_django()

    rounds, per_round, idle = (2, 3, 1) if args.quick else (15, 20, 100)
    results = Results("overhead")
    with scenario_processes("overhead") as processes:
        user, token = bench_account()
        source = BASE_DIR / "models" / "hello-world"
        version = push(user.account, "hello-world", source)
        environment = environment_for(version)
        cog = CogServer.for_version(processes, version, environment, source, "hello-world")
        platform = Platform(processes)
        cog.wait_ready()

        body = {"version": version.digest, "input": {"text": "bench"}}
        api = Client(platform.port, {"Authorization": f"Bearer {token}", "Prefer": "wait"})
        trace: list[tuple[str, float, float]] = []
        direct = Client(cog.port)
        retries = [0]

        def via_platform() -> None:
            sent = time.time()
            status, answer = api.request("POST", "/v1/predictions", body)
            received = time.time()
            if status != 201 or answer.get("output") != "hello bench":
                raise RuntimeError(f"the platform answered {status}: {answer}")
            trace.append((answer["id"], sent, received))

        def via_cog() -> None:
            while True:
                status, answer = direct.request("POST", "/predictions", {"input": body["input"]})
                if status == 409:  # Cog's slot is still being released: retry at once
                    retries[0] += 1
                    continue
                if status != 200 or answer.get("output") != "hello bench":
                    raise RuntimeError(f"Cog answered {status}: {answer}")
                return

        targets = [Target("platform", via_platform), Target("cog", via_cog)]
        cold = targets[0].once()  # the version's first prediction starts its model process
        for target in targets:
            for _ in range(3 if args.quick else 30):
                target.once()
        trace.clear()
        retries[0] = 0
        warm = back_to_back(targets, rounds, per_round)
        warm_trace = list(trace)
        warm_retries = retries[0]
        idle_seconds = 0.5 if args.quick else IDLE_SECONDS  # quick: checks the code only
        idle_samples = after_idle(targets, idle, idle_seconds)
        direct.close()
        cog.stop()
        costs = request_costs(platform, api, token, body, 10 if args.quick else 100)
        api.close()
        platform.stop()
        hop = cog_hop_probe(processes, source, environment, version, rounds, per_round)

        idle_label = f"after {idle_seconds:g} s idle"
        for label, samples in (("warm, sequential", warm), (idle_label, idle_samples)):
            p, c = samples["platform"], samples["cog"]
            p50, p95 = percentile(p, 0.5), percentile(p, 0.95)
            c50, c95 = percentile(c, 0.5), percentile(c, 0.95)
            results.add(
                f"Prefer: wait, hello-world, {label}",
                n=len(p),
                p50=p50,
                p95=p95,
                versus=f"direct Cog {fmt(c50)} / {fmt(c95)} ms",
                ratio=f"p50 {ratio(p50, c50)}, +{fmt(p50 - c50)} ms",
                target=f"p50 <= Cog + {TARGET_P50_MS:g}, p95 <= Cog + {TARGET_P95_MS:g} ms",
                met=(p50 - c50) <= TARGET_P50_MS and (p95 - c95) <= TARGET_P95_MS,
            )
            results.notes[label] = {"p50": p50, "p95": p95, "cog_p50": c50, "cog_p95": c95}
        results.notes["cold_first_prediction_ms"] = cold
        results.notes["cog_409_retries_warm"] = warm_retries
        results.section(
            "Platform overhead: where a warm prediction's time goes", breakdown(warm_trace)
        )
        report_hop(results, hop)
        report_costs(results, costs)
        results.notes["counts"] = {"rounds": rounds, "per_round": per_round, "idle": idle}
        results.section(
            "Platform overhead: method",
            "Sequential, one keep-alive http.client connection per server, the same input "
            f'(`{{"text": "bench"}}`) to the platform and direct Cog in alternating turns. '
            f"Warm: {rounds} turns of {per_round} requests "
            f"per server after 30 warm-up requests each ({rounds * per_round} measured per "
            f"server); after idleness: {idle} requests per server, each after "
            f"{idle_seconds:g} s without a request to that server, turns staggered. Direct Cog "
            f"409 retries during the warm run: {warm_retries} (counted in its latency). The "
            f"version's first prediction (model process cold boot) took {fmt(cold)} ms and is "
            "not in the figures.",
        )
    finish(results, args.json)


PHASES = [
    "client sends -> row created (HTTP, auth, validation, insert)",
    "row created -> claimed by the worker (commit, enqueue, queue, claim)",
    "claimed -> predict() starts (pool, process check, start event)",
    "predict() starts -> completed (Cog hop: PUT + SSE on a new connection, model)",
    "completed -> client has the response (finish writes, wake-up, reply)",
]


def phase_samples(trace: list[tuple[str, float, float]]) -> dict[str, list[float]]:
    """Split each prediction by the timestamps the platform stored for it."""
    from apps.predictions.models import Prediction

    rows = {
        p.id: p
        for p in Prediction.objects.filter(pk__in=[t[0] for t in trace]).only(
            "id", "created_at", "claimed_at", "started_at", "completed_at"
        )
    }
    phases: dict[str, list[float]] = {name: [] for name in [*PHASES, "total (client)"]}
    for prediction_id, sent, received in trace:
        p = rows.get(prediction_id)
        if p is None or None in (p.claimed_at, p.started_at, p.completed_at):
            continue
        marks = [sent, p.created_at.timestamp(), p.claimed_at.timestamp()]
        marks += [p.started_at.timestamp(), p.completed_at.timestamp(), received]
        for index, name in enumerate(PHASES):
            phases[name].append(ms(marks[index + 1] - marks[index]))
        phases["total (client)"].append(ms(received - sent))
    return phases


def breakdown(trace: list) -> str:
    table = markdown_table(
        ["phase", "platform p50 / p95 ms"],
        [
            [name, f"{fmt(percentile(values, 0.5))} / {fmt(percentile(values, 0.95))}"]
            for name, values in phase_samples(trace).items()
        ],
    )
    return (
        f"{len(trace)} warm predictions; the phases come from the wall-clock "
        "timestamps the platform stores on each prediction (`created_at`, `claimed_at`, "
        "`started_at`, `completed_at`) and the client's clock (same machine). Per-phase "
        "percentiles do not add up to the total's.\n\n" + table
    )


# --- diagnostics: the worker's hop to Cog, and CPU per request kind -------------------------

HOP_INPUT = {"text": "bench"}


def hop_events(lines) -> None:
    """Read server-sent events to the end of the `completed` one, as CogProcess._predict."""
    from apps.core.sse import parse_events

    for event, _id, _data in parse_events(lines):
        if event == "completed":
            return
    raise RuntimeError("Cog's stream ended before its completed event")


def hop_worker(port: int, _client: httpx.Client, prediction_id: str) -> None:
    """What the worker sends now (CogProcess._open_stream): no health check (the pool reads the
    process states from /proc), PUT + SSE with `Connection: close` on a connection of its own
    (the standard library's client); 409 retried after 5 ms."""
    body = json.dumps({"id": prediction_id, "input": HOP_INPUT}).encode()
    headers = {
        "Content-Type": "application/json",
        "Accept": "text/event-stream",
        "Connection": "close",
    }
    while True:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            connection.request("PUT", f"/predictions/{prediction_id}", body=body, headers=headers)
            response = connection.getresponse()
            if response.status == 409:
                time.sleep(0.005)
                continue
            if response.status != 200:
                raise RuntimeError(f"Cog answered {response.status}")
            hop_events(line.decode().rstrip("\r\n") for line in iter(response.readline, b""))
            return
        finally:
            connection.close()


def hop_keep_alive(health: bool, method: str):
    """Requests on the variant's own httpx client (one keep-alive connection), as the worker
    sent them before: the pool's health check (CogProcess.is_usable) if `health`, then
    PUT + SSE (or Cog's plain POST with a JSON reply); 409 retried after 5 ms."""

    def send(port: int, client: httpx.Client, prediction_id: str) -> None:
        base = f"http://127.0.0.1:{port}"
        if health:
            client.get(f"{base}/health-check", timeout=5).json()
        while True:
            if method == "PUT":
                request = client.build_request(
                    "PUT",
                    f"{base}/predictions/{prediction_id}",
                    json={"id": prediction_id, "input": HOP_INPUT},
                    headers={"Accept": "text/event-stream"},
                )
            else:
                request = client.build_request(
                    "POST", f"{base}/predictions", json={"input": HOP_INPUT}
                )
            response = client.send(request, stream=True)
            if response.status_code != 409:
                break
            response.close()
            time.sleep(0.005)
        try:
            if response.status_code != 200:
                raise RuntimeError(f"Cog answered {response.status_code}")
            if method == "PUT":
                hop_events(response.iter_lines())
            else:
                response.read()
        finally:
            response.close()

    return send


HOP_WORKER = "worker's way: PUT + SSE, `Connection: close` (a new connection), no health check"
HOP_PREVIOUS = "previous way: GET /health-check, then PUT + SSE, one keep-alive connection"
HOP_POST = "POST, JSON reply (Cog's plain API), keep-alive"
HOP_VARIANTS = {
    HOP_WORKER: hop_worker,
    HOP_PREVIOUS: hop_keep_alive(health=True, method="PUT"),
    "PUT + SSE, keep-alive, no health check": hop_keep_alive(health=False, method="PUT"),
    HOP_POST: hop_keep_alive(health=False, method="POST"),
}


def cog_hop_probe(processes, source, environment, version, rounds: int, per_round: int) -> dict:
    """What the worker sends Cog for each warm prediction, timed to the `completed` event,
    beside the way it sent it before (a health check, then the PUT on the same kept-alive
    connection: Cog's reply stalled ~40 ms) and other variants; on a Cog server whose schema
    enables streaming as the worker's copy does."""
    schema = copy.deepcopy(version.openapi_schema)
    schema.setdefault("paths", {}).setdefault("/predictions", {}).setdefault("post", {})
    schema["paths"]["/predictions"]["post"]["x-cog-streaming"] = True
    server = CogServer.for_version(
        processes, version, environment, source, "hello-world-sse", schema
    )
    server.wait_ready()
    # One client (so one keep-alive connection) per variant, as the worker had per process.
    clients = {
        name: httpx.Client(timeout=httpx.Timeout(10.0, read=None), trust_env=False)
        for name in HOP_VARIANTS
    }
    samples: dict[str, list[float]] = {name: [] for name in HOP_VARIANTS}
    sequence = [0]

    def once(name: str) -> float:
        sequence[0] += 1
        started = time.perf_counter()
        HOP_VARIANTS[name](server.port, clients[name], f"hop{sequence[0]}")
        return ms(time.perf_counter() - started)

    for name in HOP_VARIANTS:
        for _ in range(min(10, per_round)):
            once(name)
    for _ in range(rounds):
        for name in HOP_VARIANTS:
            samples[name] += [once(name) for _ in range(per_round)]
    for client in clients.values():
        client.close()
    server.stop()
    return samples


def report_hop(results: Results, hop: dict) -> None:
    base = summary(hop[HOP_POST])
    labels = {
        HOP_WORKER: "PUT/SSE with Connection: close (as the worker)",
        HOP_PREVIOUS: "health check + PUT/SSE keep-alive (the previous way)",
    }
    for name, label in labels.items():
        stats = summary(hop[name])
        results.add_summary(
            f"diagnostic: Cog hop, {label}",
            stats,
            versus=f"POST JSON {fmt(base['p50'])} / {fmt(base['p95'])} ms",
            ratio=f"p50 {ratio(stats['p50'], base['p50'])}",
        )
    rows = [
        [name, fmt(summary(v)["p50"]), fmt(summary(v)["p95"]), fmt(summary(v)["p99"])]
        for name, v in hop.items()
    ]
    results.section(
        "Platform overhead: the worker's hop to Cog",
        "The requests the worker sends a warm model process for each prediction, replayed "
        "against a Cog server of hello-world (schema with streaming on, as the worker writes "
        "it), beside the way it sent them before and other variants; sequential, from the "
        "first request to the `completed` event (or the JSON reply), each keep-alive variant "
        "on its own httpx client, variants in alternating turns:\n\n"
        + markdown_table(["request", "p50 ms", "p95 ms", "p99 ms"], rows),
    )


def request_costs(platform: Platform, api: Client, token: str, body: dict, count: int) -> dict:
    """CPU per request of each process group, for each kind of API request, sequential."""
    from apps.predictions.models import Prediction

    groups = dict(platform.pids())
    if pid := redis_pid():
        groups["Redis"] = [pid]
    plain = Client(platform.port, {"Authorization": f"Bearer {token}"})
    _status, some = plain.request("POST", "/v1/predictions", body)
    kinds = {
        "GET /healthz (database + Redis check)": lambda: plain.request("GET", "/healthz"),
        "GET /v1/predictions/<id>": lambda: plain.request("GET", f"/v1/predictions/{some['id']}"),
        "POST /v1/predictions, no wait (runs in the background)": lambda: plain.request(
            "POST", "/v1/predictions", body
        ),
        "POST /v1/predictions, Prefer: wait": lambda: api.request("POST", "/v1/predictions", body),
    }
    costs = {}
    for name, send in kinds.items():
        for _ in range(5):
            send()
        meter = CpuMeter(groups)
        meter.start()
        latencies = []
        last = None
        for _ in range(count):
            started = time.perf_counter()
            status, last = send()
            latencies.append(ms(time.perf_counter() - started))
            if status not in (200, 201):
                raise RuntimeError(f"{name} answered {status}: {last}")
        if "no wait" in name:  # let the worker finish them: its CPU counts for them
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if Prediction.objects.filter(pk=last["id"], completed_at__isnull=False).exists():
                    break
                time.sleep(0.05)
        used = meter.stop()
        costs[name] = {
            "cpu_ms": {k: ms(v) / count for k, v in used.items() if k != "_wall"},
            "p50": percentile(latencies, 0.5),
        }
    plain.close()
    return costs


def report_costs(results: Results, costs: dict) -> None:
    groups = [g for g in next(iter(costs.values()))["cpu_ms"] if "load generator" not in g]
    rows = []
    for name, cost in costs.items():
        cpu = cost["cpu_ms"]
        total = sum(cpu[g] for g in groups)
        rows.append([name, fmt(cost["p50"])] + [fmt(cpu[g]) for g in groups] + [fmt(total)])
    results.section(
        "Platform overhead: CPU per request, by kind of request",
        "Sequential requests of one kind; CPU (user + system) of each process group divided by "
        "the requests (psutil, measured from outside). For `no wait`, the window lasts until the "
        "worker has finished the last one, so the workers' column is the full cost of running "
        "a prediction without anybody waiting for it.\n\n"
        + markdown_table(
            ["request", "wall p50 ms"] + [f"{g} CPU ms" for g in groups] + ["total CPU ms"], rows
        ),
    )


if __name__ == "__main__":
    main()
