"""What the sandbox costs: a model process in bubblewrap vs the same process unsandboxed.

    VAR_DIR=/tmp/bench-x EMBEDDED_REDIS_NAME=bench .venv/bin/python bench/sandbox.py [--quick]

The worker's model pool (no web tier, no queue: only what the sandbox changes) runs the
hello-world demo model. Each cycle, for each mode in turn (so both see the same machine
load): stop the mode's model process, time a cold boot (start Cog -> setup() -> the first
prediction answered), then a series of warm predictions. Sandboxed, Cog is reached through
the sandbox's relay on a unix socket and runs as its own user id in its own namespaces.
"""

from __future__ import annotations

import time

from harness import (
    BASE_DIR,
    Results,
    arguments,
    finish,
    fmt,
    ms,
    ratio,
    setup_django,
    summary,
)


def spec_for(directory):
    from apps.runtime import artifacts, cogyaml, environments, schema
    from apps.runtime.pool import VersionSpec

    config = cogyaml.load(directory)
    environment = environments.ensure(config.requirements, log=lambda line: None)
    archive = artifacts.pack(directory)
    return VersionSpec(
        digest=artifacts.digest(directory),
        predictor_ref=config.predictor_ref,
        requirements=tuple(config.requirements),
        schema=schema.generate(environment, directory, config.predictor_ref),
        load_artifact=lambda: archive,
    )


def main() -> None:
    args = arguments(__doc__.splitlines()[0])
    setup_django()
    from django.conf import settings

    from apps.runtime.pool import ModelPool, PoolSettings

    cycles, warm = (2, 5) if args.quick else (12, 60)
    spec = spec_for(BASE_DIR / "models" / "hello-world")
    pools = {}
    for mode in ("off", "bwrap"):
        pools[mode] = ModelPool(
            PoolSettings(
                work_dir=settings.VAR_DIR / f"sandbox-bench-{mode}",
                memory_budget_bytes=4 << 30,
                max_processes=1,
                setup_timeout=120,
                max_input_bytes=1 << 20,
                max_output_bytes=1 << 20,
                fetch_timeout=5,
            )
        )
    samples = {(mode, kind): [] for mode in pools for kind in ("cold", "warm")}

    def run(mode: str) -> float:
        settings.SANDBOX = mode  # read when a model process starts
        started = time.monotonic()
        outcome = pools[mode].run(
            spec,
            f"p{time.monotonic_ns()}",
            {"text": "b"},
            on_event=lambda k, d: None,
            time_limit=60,
        )
        elapsed = time.monotonic() - started
        if outcome.result.status != "succeeded":
            raise RuntimeError(f"{mode}: {outcome.result.error}")
        return ms(elapsed)

    try:
        for mode in pools:  # first boots fill file caches: not counted
            run(mode)
        for _cycle in range(cycles):
            for mode, pool in pools.items():
                for process in list(pool.processes.values()):
                    process.stop()
                pool.processes.clear()
                samples[(mode, "cold")].append(run(mode))
                samples[(mode, "warm")] += [run(mode) for _ in range(warm)]
    finally:
        for pool in pools.values():
            pool.shutdown()

    results = Results("sandbox")
    for kind, what in (
        ("cold", "cold boot in the sandbox (start -> setup() -> first answer)"),
        ("warm", "warm prediction in the sandbox (the pool's run, no web tier)"),
    ):
        boxed, bare = summary(samples[("bwrap", kind)]), summary(samples[("off", kind)])
        results.add_summary(
            what,
            boxed,
            versus=f"unsandboxed {fmt(bare['p50'])} / {fmt(bare['p95'])} ms",
            ratio=f"p50 {ratio(boxed['p50'], bare['p50'])}, +{fmt(boxed['p50'] - bare['p50'])} ms",
        )
    finish(results, args.json)


if __name__ == "__main__":
    main()
