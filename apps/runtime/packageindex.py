"""The installation's package index: where pip may fetch model requirements from.

The operator configures pip as usual (pip.conf, PIP_INDEX_URL, PIP_FIND_LINKS, ...); pip's
effective settings are read once per process and handed to the sandboxed pip as variables.
Their hosts are the only ones the sandbox's egress proxy lets pip reach, their local folders
are bound read-only, and a model's requirements may not point pip anywhere else
(`check_requirement`): `--index-url`, `--extra-index-url`, `--find-links`, `--trusted-host`,
`pkg @ URL` and plain URLs or paths are refused unless they name what the operator configured.
"""

from __future__ import annotations

import functools
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from django.conf import settings

DEFAULT_INDEX = "https://pypi.org/simple"
# pip settings passed on to the sandboxed pip (as PIP_* variables).
PASSED_ON = (
    "index-url",
    "extra-index-url",
    "find-links",
    "no-index",
    "constraint",
    "cert",
    "trusted-host",
    "default-timeout",
    "retries",
    "prefer-binary",
    "only-binary",
    "no-binary",
)
SCOPES = {"global": 0, "user": 1, "site": 2, ":env:": 3}  # pip's own precedence, lowest first
LOCATION_OPTIONS = ("-i", "--index-url", "--extra-index-url", "-f", "--find-links")
REFUSED_OPTIONS = ("--trusted-host", "--no-index", "--pre-index", "--index")


class PackageSourceRefused(ValueError):
    """A requirement line that would make pip fetch from somewhere not configured."""


@dataclass
class IndexConfiguration:
    env: dict[str, str] = field(default_factory=dict)
    hosts: set[str] = field(default_factory=set)
    paths: list[Path] = field(default_factory=list)
    locations: set[str] = field(default_factory=set)  # URLs and folders pip may be pointed at


def _pip_settings() -> dict[str, str]:
    try:
        result = subprocess.run(
            [sys.executable, "-m", "pip", "config", "list"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired):
        return {}
    found: dict[str, tuple[int, str]] = {}
    for line in result.stdout.splitlines():
        key, _, value = line.partition("=")
        scope, _, name = key.rpartition(".")
        value = value.strip().strip("'\"")
        rank = SCOPES.get(scope, 0)
        if name in PASSED_ON and (name not in found or found[name][0] <= rank):
            found[name] = (rank, value)
    return {name: value for name, (_rank, value) in found.items()}


def _local_path(location: str) -> Path | None:
    if location.startswith("file:"):
        return Path(unquote(urlsplit(location).path))
    if "://" not in location:
        return Path(location)
    return None


@functools.cache
def configuration() -> IndexConfiguration:
    config = IndexConfiguration()
    pip = _pip_settings()
    pip.setdefault("index-url", DEFAULT_INDEX)
    for name, value in pip.items():
        config.env["PIP_" + name.upper().replace("-", "_")] = value
    config.env["PIP_CONFIG_FILE"] = os.devnull  # the values above are the whole configuration
    for name in ("index-url", "extra-index-url", "find-links"):
        for location in pip.get(name, "").split():
            config.locations.add(location.rstrip("/"))
            path = _local_path(location)
            if path is not None:
                if path.exists():
                    # A local index's pages link to files beside it (…/simple → …/files).
                    local = path.resolve()
                    config.paths.append(local.parent if name != "find-links" else local)
            elif host := urlsplit(location).hostname:
                config.hosts.add(host.lower())
    for name in ("constraint", "cert"):
        if pip.get(name) and Path(pip[name]).exists():
            config.paths.append(Path(pip[name]).resolve())
    if "pypi.org" in config.hosts:
        config.hosts.add("files.pythonhosted.org")  # where PyPI's index sends downloads
    config.hosts.update(host.lower() for host in settings.PACKAGE_INDEX_HOSTS)
    return config


_DIRECT = re.compile(r"(^[a-z][a-z0-9+.-]*://)|(@\s*[a-z][a-z0-9+.-]*:)", re.IGNORECASE)


def _option(text: str) -> tuple[str, str]:
    """`--name=value`, `--name value`, `-xvalue` or `-x value` as (name, value)."""
    if text.startswith("--"):
        name, _, value = text.partition("=") if "=" in text.split()[0] else text.partition(" ")
        return name.strip(), value.strip()
    return text[:2], text[2:].strip()


def check_requirement(line: str) -> None:
    """Refuse a requirement line (or `pip install` argument) that changes where pip fetches
    from, unless it names the installation's own index."""
    text = line.strip()
    if text.startswith("-"):
        option, value = _option(text)
        if option in LOCATION_OPTIONS:
            if value.rstrip("/") in configuration().locations:
                return
            raise PackageSourceRefused(
                f"{option} {value} points pip at a package source this installation does not "
                "use; requirements are installed from the installation's package index only "
                "(the operator can configure another index)"
            )
        if option in REFUSED_OPTIONS:
            raise PackageSourceRefused(
                f"{option} changes where pip fetches packages from, which is not allowed"
            )
        return
    if _DIRECT.search(text) or text.startswith(("/", "./", "../", "~", ".")):
        raise PackageSourceRefused(
            f"{text}: requirements must be package names (with versions), installed from the "
            "installation's package index; direct URLs and paths are not allowed"
        )
