"""Model lifecycle: cold boot (a version's first prediction on a worker) vs warm.

    VAR_DIR=/tmp/bench-x EMBEDDED_REDIS_NAME=bench .venv/bin/python bench/lifecycle.py [--quick]

The model (bench/models/lifecycle) reports, on time.monotonic(), when its process imported the
predictor, when setup() started and ended (with an id drawn once per setup() call) and when
predict() began. Two versions of it (same environment, different content) alternate on a
worker that may keep one model process (MAX_MODEL_PROCESSES=1), so every switch is a cold
boot: the worker checks the (cached) environment, unpacks the version, stops the other
model's process, starts Cog, waits for setup() and runs the prediction. After each cold
boot a few warm predictions follow on the same process; all of them must report the cold
boot's setup id (setup() never runs again on a warm process).

Beside it, the same cold boot on Cog alone: start `python -m cog.server.http` for the same
directory in the same environment, poll its health every 5 ms until READY, send the first
prediction.
"""

from __future__ import annotations

import json
import shutil
import time

from harness import (
    BENCH_DIR,
    Client,
    CogServer,
    Platform,
    Processes,
    Results,
    arguments,
    bench_account,
    copy_model,
    environment_for,
    finish,
    fmt,
    markdown_table,
    ms,
    push,
    ratio,
    scenario_processes,
    setup_django,
    summary,
)


def variant(name: str, target) -> object:
    """A copy of the lifecycle model whose content (so version id) differs by one file."""
    copy_model(BENCH_DIR / "models" / "lifecycle", target)
    (target / "variant.txt").write_text(name + "\n")
    return target


def main() -> None:
    args = arguments(__doc__.splitlines()[0])
    setup_django()
    from django.conf import settings

    cycles, warm_per_cycle = (2, 2) if args.quick else (20, 10)
    results = Results("lifecycle")
    samples: dict[str, list[dict]] = {"platform cold": [], "platform warm": [], "cog cold": []}
    setup_checks = {"cold boots": 0, "warm predictions": 0, "warm with another setup id": 0}
    with scenario_processes("lifecycle") as processes:
        user, token = bench_account()
        work = settings.VAR_DIR / "lifecycle"
        versions = [
            push(user.account, "lifecycle", variant(name, work / name)) for name in ("a", "b")
        ]
        environment = environment_for(versions[0])
        platform = Platform(processes, env={"MAX_MODEL_PROCESSES": "1"})
        api = Client(platform.port, {"Authorization": f"Bearer {token}", "Prefer": "wait"})

        def predict(version) -> dict:
            sent_wall = time.time()
            sent = time.monotonic()
            status, body = api.request(
                "POST", "/v1/predictions", {"version": version.digest, "input": {"text": "b"}}
            )
            received = time.monotonic()
            if status != 201 or body.get("status") != "succeeded":
                raise RuntimeError(f"platform answered {status}: {body}")
            report = json.loads(body["output"])
            metrics = body.get("metrics") or {}
            return {
                "id": body["id"],
                "sent": sent,
                "sent_wall": sent_wall,
                "received": received,
                **report,
                "metrics": metrics,
            }

        predict(versions[1])  # the first cold boot of the run (file caches) is not counted
        cog_dir = copy_model(work / "a", settings.VAR_DIR / "cog-direct" / "lifecycle")
        for cycle in range(cycles):
            version = versions[cycle % 2]
            cold = predict(version)
            samples["platform cold"].append(cold)
            setup_checks["cold boots"] += 1
            for _ in range(warm_per_cycle):
                warm = predict(version)
                samples["platform warm"].append(warm)
                setup_checks["warm predictions"] += 1
                if warm["setup_id"] != cold["setup_id"] or warm["pid"] != cold["pid"]:
                    setup_checks["warm with another setup id"] += 1
            samples["cog cold"].append(cog_cold_boot(processes, cog_dir, environment, versions[0]))
        api.close()
        platform.stop()
        for sample in samples["platform cold"] + samples["platform warm"]:
            add_worker_marks(sample)
        shutil.rmtree(work, ignore_errors=True)
    report(results, samples, setup_checks, cycles, warm_per_cycle)
    finish(results, args.json)


def add_worker_marks(sample: dict) -> None:
    """When the worker claimed the prediction (database) and when it began to start the model
    process (its "Starting the model" log line in the prediction's event log, whose Redis
    entry id is a millisecond timestamp), on the client's monotonic clock."""
    from apps.core.redis import client
    from apps.predictions.events import stream_key
    from apps.predictions.models import Prediction

    offset = sample["sent_wall"] - sample["sent"]  # wall clock - monotonic clock
    prediction = Prediction.objects.only("claimed_at").get(pk=sample["id"])
    sample["claimed"] = prediction.claimed_at.timestamp() - offset
    for entry_id, fields in client().xrange(stream_key(sample["id"])):
        if fields[b"k"] == b"logs" and b"Starting the model" in fields[b"d"]:
            sample["starting"] = int(entry_id.split(b"-")[0]) / 1000 - offset
            break


def cog_cold_boot(processes: Processes, directory, environment, version) -> dict:
    """Cog alone: process start -> READY -> first prediction answered."""
    sent = time.monotonic()
    server = CogServer(
        processes, directory, environment, version.predictor_ref, version.openapi_schema
    )
    server.wait_ready(interval=0.005)
    client = Client(server.port)
    while True:
        status, body = client.request("POST", "/predictions", {"input": {"text": "b"}})
        if status != 409:
            break
    received = time.monotonic()
    client.close()
    server.stop()
    if status != 200:
        raise RuntimeError(f"Cog answered {status}: {body}")
    return {"sent": sent, "received": received, **json.loads(body["output"])}


PHASES = [
    "total (request -> response)",
    "request -> claimed by a worker (API, queue, claim)",
    "claimed -> worker starts the model process (environment check, unpack, "
    "stopping the other model's process)",
    "-> predictor imported in the new process (spawn, Python, coglet, import)",
    "imported -> setup() starts",
    "setup() (trivial here)",
    "setup() done -> predict() starts (READY noticed, request sent)",
    "predict() starts -> response received",
]


def phases(sample: dict, kind: str) -> dict[str, float | None]:
    """The phases of one sample (ms); None where a phase does not apply to its kind."""
    cold = kind != "platform warm"
    on_platform = kind != "cog cold"
    # Cog alone: the process starts when the client starts it.
    starting = sample.get("starting") if on_platform else sample["sent"]
    values = [
        sample["received"] - sample["sent"],
        sample.get("claimed", sample["sent"]) - sample["sent"] if on_platform else None,
        (starting - sample["claimed"]) if on_platform and cold and starting else None,
        (sample["imported"] - starting) if cold and starting else None,
        (sample["setup_started"] - sample["imported"]) if cold else None,
        (sample["setup_finished"] - sample["setup_started"]) if cold else None,
        (sample["predict_started"] - sample["setup_finished"]) if cold else None,
        sample["received"] - sample["predict_started"],
    ]
    return {
        name: (ms(value) if value is not None else None)
        for name, value in zip(PHASES, values, strict=True)
    }


def report(results: Results, samples, setup_checks, cycles: int, warm_per_cycle: int) -> None:
    totals = {
        kind: [phases(s, kind)[PHASES[0]] for s in values] for kind, values in samples.items()
    }
    cold, warm, cog = (summary(totals[k]) for k in ("platform cold", "platform warm", "cog cold"))
    results.add_summary(
        "cold boot: first prediction of a version on a worker",
        cold,
        versus=f"Cog alone: start -> READY -> answer {fmt(cog['p50'])} / {fmt(cog['p95'])} ms",
        ratio=f"p50 {ratio(cold['p50'], cog['p50'])}, +{fmt(cold['p50'] - cog['p50'])} ms",
    )
    results.add_summary(
        "warm: the same version again (same process)",
        warm,
        versus=f"cold boot {fmt(cold['p50'])} ms",
        ratio=f"cold/warm p50 {ratio(cold['p50'], warm['p50'])}",
    )
    repeats = setup_checks["warm with another setup id"]
    results.add(
        "setup() runs once per process: warm predictions that ran setup() again",
        n=setup_checks["warm predictions"],
        value=f"{repeats} of {setup_checks['warm predictions']}",
        target="0",
        met=repeats == 0,
    )
    rows = []
    for name in PHASES:
        row = [name]
        for kind in ("platform cold", "cog cold", "platform warm"):
            values = [v for s in samples[kind] if (v := phases(s, kind)[name]) is not None]
            stats = summary(values)
            row.append(f"{fmt(stats['p50'])} / {fmt(stats['p95'])}" if values else "-")
        rows.append(row)
    setup_times = [s["metrics"].get("setup_time") for s in samples["platform cold"]]
    setup_times = [ms(t) for t in setup_times if t is not None]
    results.section(
        "Lifecycle: where a cold boot's time goes (p50 / p95 ms)",
        "From the model's own monotonic timestamps (import, setup() start and end, predict() "
        "start), the client's, and two the platform stores: when the worker claimed the "
        'prediction (`claimed_at`) and when it logged "Starting the model" (the event '
        "log's entry id, a millisecond timestamp); wall-clock times are converted to the "
        "monotonic clock.\n\n"
        + markdown_table(
            ["phase", "platform cold boot", "Cog alone cold boot", "platform warm"], rows
        )
        + f"\n\nThe platform's own `metrics.setup_time` of the cold boots (process start -> "
        f"READY as the worker saw it): p50 {fmt(summary(setup_times)['p50'])} ms, p95 "
        f"{fmt(summary(setup_times)['p95'])} ms.",
    )
    results.section(
        "Lifecycle: method",
        f"{cycles} cold boots alternating between two versions of one model on one worker with "
        f"MAX_MODEL_PROCESSES=1, each followed by {warm_per_cycle} warm predictions "
        f"({cycles * warm_per_cycle} in all), `Prefer: wait`, one client; and {cycles} cold "
        "boots of Cog alone, interleaved with them. The environment is already built (its "
        "build, minutes of pip, is not in the figures); the worker's check of it is. setup() "
        "ran "
        f"{setup_checks['cold boots']} times for {setup_checks['cold boots']} cold boots and "
        f"{setup_checks['warm predictions']} warm predictions.",
    )


if __name__ == "__main__":
    main()
