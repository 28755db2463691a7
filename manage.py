#!/usr/bin/env python3
"""Django's command-line utility, plus the bootstrap behind the README's two commands.

Run with a plain system Python, this file first makes sure the project's virtualenv
(`.venv`, or $VENV_DIR) exists and matches pyproject.toml, then re-runs itself inside it.
So `python3 manage.py up` works on a fresh machine that has nothing but Python 3.11.
Set SELFREP_BOOTSTRAP=0 to use the current interpreter as it is (containers, CI images).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent


def _venv_dir() -> Path:
    return Path(os.environ.get("VENV_DIR") or ROOT / ".venv").resolve()


def _requirements_stamp() -> str:
    return hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()


def _venv_python(venv_dir: Path) -> Path:
    return venv_dir / "bin" / "python"


def _install(venv_dir: Path) -> None:
    stamp_file = venv_dir / ".selfrep-installed"
    if stamp_file.exists() and stamp_file.read_text() == _requirements_stamp():
        return
    if not _venv_python(venv_dir).exists():
        print(f"bootstrap: creating virtualenv in {venv_dir}", flush=True)
        venv.EnvBuilder(with_pip=True).create(venv_dir)
    print("bootstrap: installing dependencies (first run takes a few minutes)", flush=True)
    subprocess.run(
        [
            str(_venv_python(venv_dir)),
            "-m",
            "pip",
            "install",
            "-qq",
            "--disable-pip-version-check",
            "--editable",
            f"{ROOT}[dev]",
        ],
        check=True,
    )
    stamp_file.write_text(_requirements_stamp())


def bootstrap() -> None:
    if os.environ.get("SELFREP_BOOTSTRAP", "1") == "0":
        return
    venv_dir = _venv_dir()
    in_a_venv = sys.prefix != sys.base_prefix
    if in_a_venv and Path(sys.prefix).resolve() != venv_dir:
        return  # somebody else's virtualenv: trust it
    try:
        _install(venv_dir)
    except subprocess.CalledProcessError as exc:
        sys.exit(f"bootstrap: dependency installation failed ({exc}); see the pip output above")
    if not in_a_venv:
        python = str(_venv_python(venv_dir))
        os.execv(python, [python, str(ROOT / "manage.py"), *sys.argv[1:]])


def main() -> None:
    bootstrap()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
