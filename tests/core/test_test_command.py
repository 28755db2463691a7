"""`manage.py test` fails when a process the tests started outlives them, and kills it."""

from __future__ import annotations

import os
import subprocess
import sys
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
                subprocess.Popen(["sleep", "300"], start_new_session=True)
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
    assert "outlived them" in result.stderr and "sleep 300" in result.stderr, result.stderr
    leftover = [
        line
        for line in subprocess.run(
            ["pgrep", "-af", "sleep 300"], capture_output=True, text=True
        ).stdout.splitlines()
    ]
    assert not leftover, leftover


def test_a_run_whose_processes_all_ended_finds_none():
    assert survivors("no-such-run", grace=0) == {}
