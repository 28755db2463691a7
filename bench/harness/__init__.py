"""Shared pieces of the benchmark suite: statistics, processes, the platform, clients, results.

Every scenario script (`bench/overhead.py`, ...) runs on its own or under `manage.py bench`:

    VAR_DIR=/tmp/bench-x EMBEDDED_REDIS_NAME=bench .venv/bin/python bench/overhead.py [--quick]

A script uses the database and the embedded Redis under VAR_DIR (a throwaway folder: never the
checkout's var/), starts every process it needs on loopback (daphne, workers, Cog servers),
stops them by PID at the end, and writes its results as JSON (`--json PATH`) for the command
to collect; it also prints them.

The scripts import from here (`from harness import ...`, with bench/ on sys.path); the
command and the report import `bench.harness`. By concern:

- `scenario`: arguments, Django on VAR_DIR, the benchmark account and its models;
- `processes`: the processes a scenario starts (Redis, the platform, Cog's own server);
- `clients`: HTTP, server-sent events and websocket clients;
- `machine`: the machine, and the CPU time of groups of processes;
- `stats`: percentiles, the rows of the suite's table and the tables.
"""

from __future__ import annotations

from .clients import AsyncHTTP, Client, WebSocketWatcher, read_chunk, read_head, sse_events
from .machine import CpuMeter, classify, cpu_seconds, machine, redis_commandstats
from .processes import (
    CogServer,
    Platform,
    Processes,
    child_env,
    copy_model,
    ensure_redis,
    prepare_database,
    redis_pid,
    scenario_processes,
)
from .scenario import (
    BASE_DIR,
    BENCH_DIR,
    NOT_INHERITED,
    PYTHON,
    arguments,
    bench_account,
    environment_for,
    push,
    setup_django,
)
from .stats import (
    Results,
    Row,
    finish,
    fmt,
    markdown_table,
    ms,
    percentile,
    ratio,
    summary,
    table_rows,
    text_table,
)

__all__ = [
    "BASE_DIR",
    "BENCH_DIR",
    "NOT_INHERITED",
    "PYTHON",
    "AsyncHTTP",
    "Client",
    "CogServer",
    "CpuMeter",
    "Platform",
    "Processes",
    "Results",
    "Row",
    "WebSocketWatcher",
    "arguments",
    "bench_account",
    "child_env",
    "classify",
    "copy_model",
    "cpu_seconds",
    "ensure_redis",
    "environment_for",
    "finish",
    "fmt",
    "machine",
    "markdown_table",
    "ms",
    "percentile",
    "prepare_database",
    "push",
    "ratio",
    "read_chunk",
    "read_head",
    "redis_commandstats",
    "redis_pid",
    "scenario_processes",
    "setup_django",
    "sse_events",
    "summary",
    "table_rows",
    "text_table",
]
