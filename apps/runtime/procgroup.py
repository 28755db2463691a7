"""A model process group as /proc shows it: its members, their states and memory, and how
its leader ended. Reading /proc costs microseconds, an HTTP health check much more."""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path


def members(group: int) -> list[int]:
    """The processes of a process group (the sandbox, Cog's server, its Python worker)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if os.getpgid(int(entry.name)) == group:
                    pids.append(int(entry.name))
    return pids


def running(pid: int) -> bool:
    """Whether the process exists and is neither a zombie nor dead."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            state = handle.read().rpartition(b")")[2].split()[0]
    except (OSError, IndexError):
        return False
    return state not in (b"Z", b"X")


def resident_bytes(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


def exit_description(returncode: int | None, *, sandboxed: bool = False) -> str:
    """How a process ended. bubblewrap reports its command's death by signal N as the exit
    code 128 + N, as shells do."""
    if sandboxed and returncode is not None and 128 < returncode < 160:
        returncode = 128 - returncode
    if returncode is None or returncode >= 0:
        return f"exit code {returncode}"
    try:
        name = signal.Signals(-returncode).name
    except ValueError:
        name = f"signal {-returncode}"
    hint = " (killed: out of memory, or stopped by an operator)" if -returncode == 9 else ""
    return f"{name}{hint}"
