"""The machine a benchmark ran on, and what its processes cost: CPU seconds per group of
processes (Cog's under any of them counted apart), Redis commands."""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

# --- CPU time of processes -----------------------------------------------------------------


def _tree(pid: int) -> list:
    import psutil

    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def classify(groups: dict[str, list[int]]) -> dict[str, list]:
    """Processes by group; Cog servers (and their Python workers) under any root go to 'cog'."""
    import psutil

    result: dict[str, list] = {name: [] for name in groups}
    result.setdefault("Cog model processes", [])
    for name, pids in groups.items():
        for pid in pids:
            for process in _tree(pid):
                try:
                    lineage = [process, *process.parents()]
                    is_cog = any("cog.server.http" in " ".join(p.cmdline()) for p in lineage)
                except psutil.Error:
                    continue
                result["Cog model processes" if is_cog else name].append(process)
    return result


def cpu_seconds(processes: list) -> dict[int, float]:
    import psutil

    times = {}
    for process in processes:
        try:
            cpu = process.cpu_times()
            times[process.pid] = cpu.user + cpu.system
        except psutil.Error:
            continue
    return times


class CpuMeter:
    """CPU seconds used by groups of processes between start() and stop()."""

    def __init__(self, groups: dict[str, list[int]]) -> None:
        self.groups = groups

    def start(self) -> None:
        import resource

        self.members = classify(self.groups)
        self.before = {name: cpu_seconds(ps) for name, ps in self.members.items()}
        self.self_before = resource.getrusage(resource.RUSAGE_SELF)
        self.wall = time.perf_counter()

    def stop(self) -> dict[str, float]:
        import resource

        wall = time.perf_counter() - self.wall
        used = {}
        for name, processes in self.members.items():
            after = cpu_seconds(processes)
            used[name] = sum(after[p] - self.before[name].get(p, 0) for p in after)
        usage = resource.getrusage(resource.RUSAGE_SELF)
        used["load generator (this script)"] = (
            usage.ru_utime + usage.ru_stime - self.self_before.ru_utime - self.self_before.ru_stime
        )
        used["_wall"] = wall
        return used


def redis_commandstats(client) -> dict[str, int]:
    info = client.info("commandstats")
    return {name.removeprefix("cmdstat_"): stats["calls"] for name, stats in info.items()}


def machine() -> dict[str, str]:
    import platform

    import django

    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = ""
    with contextlib.suppress(OSError, ValueError, IndexError):
        kb = int(Path("/proc/meminfo").read_text().splitlines()[0].split()[1])
        memory = f"{kb / 1024 / 1024:.0f} GiB"
    versions = {}
    for name in ("daphne", "channels", "channels_redis", "dramatiq", "redis", "cog", "coglet"):
        with contextlib.suppress(Exception):
            import importlib.metadata

            versions[name] = importlib.metadata.version(name)
    return {
        "cpu": f"{os.cpu_count()} x {cpu}",
        "memory": memory,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "django": django.get_version(),
        **versions,
    }
