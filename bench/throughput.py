"""Throughput: 20 concurrent API clients creating no-op predictions with `Prefer: wait`.

    VAR_DIR=/tmp/bench-x EMBEDDED_REDIS_NAME=bench .venv/bin/python bench/throughput.py [--quick]

Completed predictions per second with 1 and 2 prediction workers (hello-world), beside Cog's
own server for the same model driven the same way (1 and 2 servers; Cog serves one prediction
at a time per process too, and answers 409 when busy: its clients retry at once). Closed
loop: each client sends its next request when the previous one is answered. Load generator,
web server, workers, model processes and Redis share the machine's cores.

Where the time goes, measured in the same run: CPU seconds of every process group per
completed prediction (psutil, outside the processes), Redis commands per prediction (Redis'
own INFO commandstats), and database queries per prediction in the web and worker processes
(counted by bench/instrument/sitecustomize.py), over a fixed number of predictions.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import time

from harness import (
    BASE_DIR,
    BENCH_DIR,
    AsyncHTTP,
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
    redis_commandstats,
    redis_pid,
    scenario_processes,
    setup_django,
)

CLIENTS = 20
TARGET_PER_SECOND = 550  # the target: BentoML's no-op figure on this machine


async def closed_loop(
    make_request, clients: int, warmup_s: float, measure_s: float, on_measure_start=None
) -> dict:
    """`clients` loops, each awaiting its own requests; completions counted in the window."""
    state = {"measuring": False, "stop": False}
    latencies: list[float] = []
    completions = [0]
    conflicts = [0]

    async def client(index: int) -> None:
        connection = None
        while not state["stop"]:
            started = time.perf_counter()
            connection, retries = await make_request(index, connection)
            conflicts[0] += retries
            if state["measuring"] and not state["stop"]:
                latencies.append(ms(time.perf_counter() - started))
                completions[0] += 1
        if connection is not None:
            await connection.close()

    tasks = [asyncio.ensure_future(client(i)) for i in range(clients)]
    await asyncio.sleep(warmup_s)
    if on_measure_start:
        on_measure_start()
    conflicts[0] = 0
    state["measuring"] = True
    started = time.perf_counter()
    await asyncio.sleep(measure_s)
    state["stop"] = True
    elapsed = time.perf_counter() - started
    count = completions[0]
    await asyncio.gather(*tasks)
    return {
        "completed": count,
        "seconds": elapsed,
        "per_second": count / elapsed,
        "latencies": latencies,
        "conflicts": conflicts[0],
    }


async def fixed_count(make_request, clients: int, total: int) -> None:
    """`total` requests from `clients` loops; returns when every one has been answered."""
    issued = [0]

    async def client(index: int) -> None:
        connection = None
        while issued[0] < total:
            issued[0] += 1
            connection, _retries = await make_request(index, connection)
        if connection is not None:
            await connection.close()

    await asyncio.gather(*(client(i) for i in range(clients)))


def platform_request(port: int, token: str, digest: str):
    body = json.dumps({"version": digest, "input": {"text": "bench"}}).encode()
    headers = {
        "Authorization": f"Bearer {token}",
        "Prefer": "wait",
        "Content-Type": "application/json",
    }

    async def make(index: int, connection: AsyncHTTP | None):
        connection = connection or AsyncHTTP(port)
        status, _headers, data = await connection.request("POST", "/v1/predictions", body, headers)
        if status != 201 or b'"succeeded"' not in data:
            raise RuntimeError(f"platform answered {status}: {data[:300]!r}")
        return connection, 0

    return make


def cog_request(ports: list[int]):
    body = json.dumps({"input": {"text": "bench"}}).encode()
    headers = {"Content-Type": "application/json"}

    async def make(index: int, connection: AsyncHTTP | None):
        connection = connection or AsyncHTTP(ports[index % len(ports)])
        retries = 0
        while True:
            status, _headers, data = await connection.request("POST", "/predictions", body, headers)
            if status == 409:  # busy (one prediction at a time): retry at once
                retries += 1
                await asyncio.sleep(0)
                continue
            if status != 200 or b'"succeeded"' not in data:
                raise RuntimeError(f"Cog answered {status}: {data[:300]!r}")
            return connection, retries

    return make


def measure(make_request, meter: CpuMeter, warmup_s: float, measure_s: float) -> dict:
    outcome = asyncio.run(closed_loop(make_request, CLIENTS, warmup_s, measure_s, meter.start))
    outcome["cpu"] = meter.stop()
    return outcome


def main() -> None:
    args = arguments(__doc__.splitlines()[0])
    setup_django()
    from django.conf import settings

    from apps.core.redis import client as redis_client

    warmup_s, measure_s = (0.3, 0.7) if args.quick else (3.0, 12.0)
    results = Results("throughput")
    runs: dict[str, dict] = {}
    with scenario_processes("throughput") as processes:
        user, token = bench_account()
        source = BASE_DIR / "models" / "hello-world"
        version = push(user.account, "hello-world", source)
        environment = environment_for(version)
        redis = redis_client()
        redis_group = {"Redis": [pid]} if (pid := redis_pid()) else {}

        # The query counter (bench/instrument/sitecustomize.py) is loaded in the platform's
        # processes: one Python call per query, next to milliseconds of work per prediction.
        query_dir = settings.VAR_DIR / "query-counts"
        shutil.rmtree(query_dir, ignore_errors=True)
        query_dir.mkdir(parents=True)
        # Everything starts at once (each waits idle while the others are measured; the CPU
        # of a run counts only its own processes): the platform and two Cog servers.
        platform = Platform(
            processes,
            env={
                "PYTHONPATH": str(BENCH_DIR / "instrument"),
                "BENCH_QUERY_LOG_DIR": str(query_dir),
            },
            wait=False,
        )
        cogs = [
            CogServer.for_version(processes, version, environment, source, f"hello-{index}")
            for index in range(2)
        ]
        platform.wait_until_serving()
        make = platform_request(platform.port, token, version.digest)
        # The worker's model process starts on its first prediction (a cold boot).
        asyncio.run(closed_loop(make, 1, 0.3 if args.quick else 2.0, 0.01))
        meter = CpuMeter({**platform.pids(), **redis_group})
        runs["platform, 1 worker"] = measure(make, meter, warmup_s, measure_s)
        counted = 20 if args.quick else 200
        queries = count_per_prediction(make, redis, query_dir, counted)
        platform.add_worker()
        # The second worker starts its own model process on its first prediction.
        second_boot = 1.5 if args.quick else 3.0
        meter = CpuMeter({**platform.pids(), **redis_group})
        runs["platform, 2 workers"] = measure(make, meter, warmup_s + second_boot, measure_s)
        processes.stop(*platform.members())

        for cog in cogs:
            cog.wait_ready()
        for count in (1, 2):
            meter = CpuMeter({"Cog servers": [c.process.pid for c in cogs[:count]]})
            label = f"direct Cog, {count} server{'s' if count > 1 else ''}"
            runs[label] = measure(
                cog_request([c.port for c in cogs[:count]]), meter, warmup_s, measure_s
            )
        processes.stop(*(cog.process for cog in cogs))

    report(results, runs, queries, warmup_s, measure_s)
    finish(results, args.json)


def count_per_prediction(make, redis, query_dir, total: int) -> dict:
    """Database queries and Redis commands per prediction over exactly `total` predictions
    (20 clients), with nothing else in flight before or after."""
    time.sleep(0.5)  # the counters are written every 0.2 s
    queries_before = read_counts(query_dir)
    commands_before = redis_commandstats(redis)
    asyncio.run(fixed_count(make, CLIENTS, total))
    time.sleep(0.5)
    queries_after = read_counts(query_dir)
    commands_after = redis_commandstats(redis)
    per_prediction = {
        role: {
            key: (n - queries_before.get(role, {}).get(key, 0)) / total
            for key, n in counts.items()
            if n > queries_before.get(role, {}).get(key, 0)
        }
        for role, counts in queries_after.items()
    }
    commands = {
        command: (n - commands_before.get(command, 0)) / total
        for command, n in commands_after.items()
        if n > commands_before.get(command, 0)
    }
    return {"per_prediction": per_prediction, "redis": commands, "predictions": total}


def read_counts(log_dir) -> dict[str, dict[str, int]]:
    totals: dict[str, dict[str, int]] = {}
    for path in log_dir.glob("*.json"):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        role = data["role"]
        for verb, n in data["counts"].items():
            totals.setdefault(role, {}).setdefault(verb, 0)
            totals[role][verb] += n
    return totals


def report(results: Results, runs: dict, queries: dict, warmup_s: float, measure_s: float) -> None:
    cog1 = runs["direct Cog, 1 server"]["per_second"]
    cog2 = runs["direct Cog, 2 servers"]["per_second"]
    for label, run in runs.items():
        rate = run["per_second"]
        is_platform = label.startswith("platform")
        versus = ratio_text = ""
        if is_platform:
            two = label.endswith("2 workers")
            cog = cog2 if two else cog1
            versus = f"direct Cog {cog:.0f}/s ({'2 servers' if two else '1 server'})"
            ratio_text = f"{rate / cog:.2f}x of Cog"
        results.add(
            f"{CLIENTS} clients, {label}",
            n=run["completed"],
            p50=percentile(run["latencies"], 0.5),
            p95=percentile(run["latencies"], 0.95),
            value=f"{rate:.0f}/s",
            versus=versus,
            ratio=ratio_text,
            target=f">={TARGET_PER_SECOND}/s" if is_platform else "",
            met=rate >= TARGET_PER_SECOND if is_platform else None,
        )
        results.notes[label] = {k: v for k, v in run.items() if k != "latencies"}

    # CPU per prediction, per process group.
    groups: list[str] = []
    for run in runs.values():
        for name in run.get("cpu", {}):
            if name != "_wall" and name not in groups:
                groups.append(name)
    header = ["process group", *runs.keys()]
    rows = []
    for name in groups:
        row = [name]
        for run in runs.values():
            used = run.get("cpu", {}).get(name)
            row.append(fmt(ms(used) / run["completed"]) if used is not None else "")
        rows.append(row)
    totals = ["**total CPU ms per prediction**"]
    ceilings = ["ceiling at 2 cores (2000 ms / total)"]
    busy = ["cores busy (CPU s / wall s)"]
    for run in runs.values():
        cpu = run.get("cpu", {})
        total = sum(v for k, v in cpu.items() if k != "_wall")
        per = ms(total) / run["completed"]
        totals.append(f"**{fmt(per)}**")
        ceilings.append(f"{2000 / per:.0f}/s" if per else "")
        busy.append(fmt(total / cpu["_wall"]) if cpu.get("_wall") else "")
    results.section(
        "Throughput: CPU per completed prediction (ms), by process",
        "CPU seconds (user + system) each group of processes used during the measured window, "
        "divided by the predictions completed in it. The machine has "
        f"{os.cpu_count()} cores shared by all of them, so the total bounds the throughput.\n\n"
        + markdown_table(header, rows + [totals, ceilings, busy]),
    )

    commands = sorted(queries["redis"].items(), key=lambda item: -item[1])
    results.section(
        "Throughput: Redis commands per prediction",
        f"From Redis' own `INFO commandstats`, over the same {queries['predictions']} "
        "predictions as the queries below (every process's commands, including the idle "
        "consumers' blocking reads and the heartbeats of that time).\n\n"
        + markdown_table(
            ["command", "per prediction"],
            [[command, fmt(n)] for command, n in commands]
            + [["**total**", f"**{fmt(sum(n for _c, n in commands))}**"]],
        ),
    )

    per = queries["per_prediction"]
    verbs = sorted({k.split()[0] for role in per.values() for k in role})
    rows = []
    for role in sorted(per):
        by_verb = {verb: 0.0 for verb in verbs}
        for key, n in per[role].items():
            by_verb[key.split()[0]] += n
        rows.append([role] + [fmt(by_verb[v]) for v in verbs] + [fmt(sum(by_verb.values()))])
    statements = [
        [role, f"`{key}`", fmt(n)]
        for role in sorted(per)
        for key, n in sorted(per[role].items(), key=lambda item: -item[1])
        if n >= 0.05
    ]
    results.section(
        "Throughput: database queries per prediction",
        "Counted inside the processes (bench/instrument/sitecustomize.py) over exactly "
        f"{queries['predictions']} predictions from {CLIENTS} clients, 1 worker, after the "
        "timed run (SQLite in WAL mode, the embedded mode's database). Transactions' COMMITs "
        "are not statements and are not counted.\n\n"
        + markdown_table(["process", *verbs, "total"], rows)
        + "\n\nBy statement (verb, table, and the columns an UPDATE sets):\n\n"
        + markdown_table(["process", "statement", "per prediction"], statements),
    )
    results.notes["queries"] = queries
    results.section(
        "Throughput: method",
        f"{CLIENTS} closed-loop clients on keep-alive connections (a minimal asyncio HTTP/1.1 "
        f"client in the benchmark process), {warmup_s:g} s warm-up (plus 3 s, 1.5 s in quick "
        f"mode, for the second worker's cold boot), then {measure_s:g} s measured per "
        "configuration; latency "
        "percentiles are per request under that load. Platform: daphne + 1 or 2 prediction "
        "workers (`manage.py worker --queues cpu`, one thread each) + the services worker, "
        "per-account rate limits raised. Direct Cog: the same body to "
        "`POST /predictions` of 1 or 2 Cog servers; 409 (busy) is retried at once and not "
        "counted as a completion ("
        + ", ".join(
            f"{run['conflicts']} retries with {label.removeprefix('direct Cog, ')}"
            for label, run in runs.items()
            if label.startswith("direct Cog")
        )
        + ").",
    )


if __name__ == "__main__":
    main()
