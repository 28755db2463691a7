"""The secret key of an installation without SECRET_KEY: generated once into VAR_DIR, private
to its owner, and the same for every process that shares the folder."""

from __future__ import annotations

import os
import subprocess
import sys

from django.conf import settings

PRINT_KEY = "from django.conf import settings; print(settings.SECRET_KEY)"


def settings_process(var_dir, code: str = PRINT_KEY, **env: str) -> subprocess.Popen:
    left_out = ("DATABASE_URL", "DEBUG", "SECRET_KEY", "SECRET_KEY_FILE")
    environment = {k: v for k, v in os.environ.items() if k not in left_out}
    environment |= {"VAR_DIR": str(var_dir), "DJANGO_SETTINGS_MODULE": "config.settings", **env}
    return subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=settings.BASE_DIR,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_it_generates_one_key_for_processes_starting_together_and_keeps_it(tmp_path):
    var_dir = tmp_path / "var"
    processes = [settings_process(var_dir) for _ in range(6)]
    keys = set()
    for process in processes:
        out, err = process.communicate(timeout=60)
        assert process.returncode == 0, err
        keys.add(out.strip())
    assert len(keys) == 1
    key = keys.pop()
    assert len(key) >= 50
    path = var_dir / "secret_key"
    assert path.read_text().strip() == key
    assert path.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in var_dir.iterdir() if "secret_key" in p.name] == ["secret_key"]

    later = settings_process(var_dir, DEBUG="1")  # development mode uses the same key
    out, err = later.communicate(timeout=60)
    assert out.strip() == key, err


def test_it_uses_the_given_key_and_stores_none(tmp_path):
    var_dir = tmp_path / "var"
    process = settings_process(var_dir, SECRET_KEY="k" * 60)
    out, err = process.communicate(timeout=60)
    assert out.strip() == "k" * 60, err
    assert not (var_dir / "secret_key").exists()


def test_it_refuses_to_start_when_no_key_can_be_kept(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    process = settings_process(blocker / "var")  # a folder inside a file cannot exist
    _out, err = process.communicate(timeout=60)
    assert process.returncode != 0
    assert "SECRET_KEY (or SECRET_KEY_FILE) must be set" in err
