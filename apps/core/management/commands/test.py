"""`manage.py test`: the whole test suite, run by pytest (arguments pass through).

Every process the suite starts carries a mark in its environment (SELFREP_TEST_RUN). When
pytest is done, any process still carrying it outlived the suite: a worker left on the shared
Redis would steal later runs' messages. Those are listed, killed, and the run fails.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.core.management.base import BaseCommand

MARK = "SELFREP_TEST_RUN"


def marked_processes(mark: str) -> dict[int, str]:
    """pid -> command line of the processes whose environment carries this run's mark."""
    found = {}
    needle = f"{MARK}={mark}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
            if needle not in environ:
                continue
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        # pytest names the running test in the environment the process inherited.
        started_by = next(
            (v.split(b"=", 1)[1].decode(errors="replace") for v in environ
             if v.startswith(b"PYTEST_CURRENT_TEST=")),
            "",
        )  # fmt: skip
        found[int(entry.name)] = command.strip() + (
            f"  (started in {started_by})" if started_by else ""
        )
    return found


def survivors(mark: str, grace: float = 5.0) -> dict[int, str]:
    """The marked processes still there after a grace period for teardowns to finish."""
    deadline = time.monotonic() + grace
    while (found := marked_processes(mark)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return found


class Command(BaseCommand):
    help = "Run the test suite with pytest; any arguments are passed to pytest."

    def run_from_argv(self, argv):
        # Tests in embedded mode use their own Redis server, never the one `up` is using.
        os.environ.setdefault("EMBEDDED_REDIS_NAME", "test")
        mark = secrets.token_hex(8)
        env = {**os.environ, MARK: mark}
        pytest = subprocess.Popen([sys.executable, "-m", "pytest", *argv[2:]], env=env)
        try:
            code = pytest.wait()
        except KeyboardInterrupt:  # Ctrl-C reached pytest too; let it finish its teardown
            code = pytest.wait()
        left = survivors(mark)
        if left:
            sys.stderr.write(
                f"\n{len(left)} process(es) started by the tests outlived them (killed now):\n"
                + "".join(f"  {pid}: {command[:200]}\n" for pid, command in sorted(left.items()))
            )
            for pid in left:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            code = code or 1
        sys.exit(code)
