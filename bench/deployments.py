"""Deployments: the first prediction after scale-to-zero vs a warm one, and the time to drain a
backlog with max_instances 1 vs 2.

    VAR_DIR=/tmp/bench-x EMBEDDED_REDIS_NAME=bench .venv/bin/python bench/deployments.py [--quick]

The platform runs as `up` runs it, plus `manage.py autoscaler` (idle window 2 s, ticks every
0.25 s). The model is bench/models/lifecycle (predict() returns at once), so the figures are
the platform's own: instance start, cold boot, queue and claim.

- cold vs warm: a deployment with min 0, max 1. A cold sample waits until the deployment has
  no instance online, then sends one prediction with `Prefer: wait` (the autoscaler starts an
  instance, which cold-boots the model); warm samples follow at once on that instance.
- drain: a deployment at zero gets N predictions queued as fast as the client can send them;
  the time from the first request to the last prediction finished, with max 1 and max 2
  (both start from zero, so both include their cold boots).
"""

from __future__ import annotations

import time

from harness import (
    BENCH_DIR,
    PYTHON,
    Client,
    Platform,
    Results,
    arguments,
    bench_account,
    finish,
    fmt,
    ms,
    push,
    ratio,
    scenario_processes,
    setup_django,
    summary,
)

ENV = {
    "AUTOSCALER_IDLE_SECONDS": "2",
    "AUTOSCALER_INTERVAL": "0.25",
    "INSTANCE_CPUS": "8",  # two instances of `cpu` (4 vCPUs each)
    "INSTANCE_MEMORY_GB": "64",
}


# In the drain, each prediction's model sleeps this long: a model's own time that leaves the
# CPU free, as a GPU-bound model does, so that two instances can overlap it on two cores.
MODEL_SECONDS = 0.1


def online(name: str) -> int:
    from apps.deployments.models import Instance

    return Instance.objects.filter(deployment__name=name, state__in=Instance.ONLINE).count()


def wait_until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise RuntimeError(f"timed out waiting for {what}")


def main() -> None:
    args = arguments(__doc__.splitlines()[0])
    setup_django()
    from apps.deployments import services

    cycles, warm_per_cycle, backlog = (1, 2, 10) if args.quick else (5, 10, 200)
    results = Results("deployments")
    with scenario_processes("deployments") as processes:
        user, token = bench_account()
        version = push(user.account, "lifecycle", BENCH_DIR / "models" / "lifecycle")
        platform = Platform(processes, cpu_workers=0, env=ENV)
        processes.spawn("autoscaler", [PYTHON, "manage.py", "autoscaler"], env=platform.env)
        hardware = services.resolve_hardware("cpu")

        def deploy(name: str, maximum: int):
            config = services.check_config(version, hardware, 0, maximum)
            return services.deployment_create(
                owner=user.account, name=name, model=version.model, config=config
            )

        api = Client(platform.port, {"Authorization": f"Bearer {token}", "Prefer": "wait"})

        def predict(name: str) -> float:
            sent = time.monotonic()
            status, body = api.request(
                "POST", f"/v1/deployments/bench/{name}/predictions", {"input": {"text": "x"}}
            )
            if status != 201 or body.get("status") != "succeeded":
                raise RuntimeError(f"platform answered {status}: {body}")
            return time.monotonic() - sent

        deploy("cold-warm", 1)
        cold, warm = [], []
        for _ in range(cycles):
            wait_until(lambda: online("cold-warm") == 0, 60, "scale to zero")
            cold.append(ms(predict("cold-warm")))
            warm.extend(ms(predict("cold-warm")) for _ in range(warm_per_cycle))
        api.close()

        drains = {}
        for maximum in (1, 2):
            name = f"drain-{maximum}"
            deploy(name, maximum)
            drains[maximum] = drain(platform.port, token, name, backlog)
        platform.stop()

    cold_stats, warm_stats = summary(cold), summary(warm)
    results.add_summary(
        "first prediction after scale to zero (instance start + cold boot), Prefer: wait",
        cold_stats,
        versus=f"warm {fmt(warm_stats['p50'])} / {fmt(warm_stats['p95'])} ms",
        ratio=f"cold/warm p50 {ratio(cold_stats['p50'], warm_stats['p50'])}",
    )
    results.add_summary("warm prediction on the same deployment", warm_stats)
    results.add(
        f"drain a backlog of {backlog} predictions of {MODEL_SECONDS * 1000:.0f} ms from zero, "
        "max_instances 2",
        n=backlog,
        value=f"{drains[2]:.2f} s",
        versus=f"max 1: {drains[1]:.2f} s",
        ratio=f"max1/max2 {ratio(drains[1], drains[2])}",
    )
    results.section(
        "Deployments: method",
        f"{cycles} cold predictions (each after the deployment scaled back to zero, 2 s idle "
        f"window) and {cycles * warm_per_cycle} warm ones on one deployment (min 0, max 1); "
        f"then {backlog} predictions queued at once on a deployment at zero with max 1, and "
        "again with max 2, timed from the first request to the last one finished; in the drain "
        f"each prediction's model sleeps {MODEL_SECONDS * 1000:.0f} ms (time that leaves the "
        "CPU free, as a GPU-bound model does). Otherwise the model does nothing, so the "
        "figures are the platform's: the autoscaler noticing work, an instance worker "
        "starting, the cold boot, queue and claim. On a 2-core machine two instances share "
        "the cores with the web server and the client: with no model time at all, max 2 "
        "drained 200 predictions slower than max 1 (7.4 s vs 6.1 s, 2026-12-05), the second "
        "instance's boot costing more CPU than it saved.",
    )
    finish(results, args.json)


def drain(port: int, token: str, name: str, count: int) -> float:
    from apps.predictions.models import Prediction

    api = Client(port, {"Authorization": f"Bearer {token}"})
    started = time.monotonic()
    ids = []
    for _ in range(count):
        status, body = api.request(
            "POST",
            f"/v1/deployments/bench/{name}/predictions",
            {"input": {"text": "d", "sleep": MODEL_SECONDS}},
        )
        if status != 201:
            raise RuntimeError(f"platform answered {status}: {body}")
        ids.append(body["id"])
    api.close()
    terminal = [s.value for s in Prediction.TERMINAL]
    wait_until(
        lambda: Prediction.objects.filter(pk__in=ids, status__in=terminal).count() == count,
        600,
        f"{name} to drain",
    )
    elapsed = time.monotonic() - started
    failed = Prediction.objects.filter(pk__in=ids).exclude(status="succeeded").count()
    if failed:
        raise RuntimeError(f"{failed} predictions of {name} did not succeed")
    return elapsed


if __name__ == "__main__":
    main()
