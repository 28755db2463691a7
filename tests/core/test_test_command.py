"""`manage.py test` fails when a process the tests started outlives them, and kills it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path
from textwrap import dedent

from django.conf import settings

from apps.core.management.commands.test import MARK, survivors


def test_it_fails_the_run_and_kills_a_process_a_test_left_behind(tmp_path):
    leaky = tmp_path / "test_leaky.py"
    leaky.write_text(
        dedent(
            """
            import subprocess

            def test_it_starts_a_worker_and_forgets_it():
                subprocess.Popen(["sleep", "307.25"], start_new_session=True)
            """
        )
    )
    env = {k: v for k, v in os.environ.items() if k != MARK}
    result = subprocess.run(
        [
            sys.executable,
            str(settings.BASE_DIR / "manage.py"),
            "test",
            str(leaky),
            "-q",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(tmp_path),
        ],
        cwd=settings.BASE_DIR,
        env={**env, "SELFREP_BOOTSTRAP": "0"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0, result.stdout + result.stderr
    assert "outlived them" in result.stderr and "sleep 307.25" in result.stderr, result.stderr
    pids = [int(pid) for pid in re.findall(r"^  (\d+): sleep 307\.25", result.stderr, re.M)]
    assert pids, result.stderr
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(_alive(pid) for pid in pids):
        time.sleep(0.05)
    assert not [pid for pid in pids if _alive(pid)]


def _alive(pid: int) -> bool:
    """A killed child of the (already ended) test run is reaped by init; a zombie counts as gone."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def test_a_run_whose_processes_all_ended_finds_none():
    assert survivors("no-such-run", grace=0) == {}
