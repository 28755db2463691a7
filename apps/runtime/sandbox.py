"""The sandbox every piece of pushed code runs in: bubblewrap (Flatpak's sandbox).

Model code is untrusted: anyone with an account can push it. Importing a predictor for its
schema, building its environment (pip runs the `setup.py` of source distributions) and the
model process itself all run through `Sandbox.command()`, which wraps a command so that it
- runs as an unprivileged user id of its own (a fresh one per sandbox, so the process limit
  of one model is not shared with another), with no capabilities, in its own PID, IPC, UTS
  and network namespaces: it sees only its own processes and reaches no address at all;
- sees a root file system made of the system's `/usr` and a few files of `/etc`, Python,
  its environment, the shared packages and its own version directory, all read-only, plus a
  size-limited scratch `/tmp` (its HOME); nothing of the platform (code, settings, VAR_DIR,
  the database file, other versions, other predictions' files) is there to be read;
- gets a clean environment: only the variables given here;
- runs under limits on memory, processes, open files and file size (rlimits).
What crosses the boundary crosses on purpose, through unix sockets (`sandbox_relay.py` runs
first inside): the worker reaches Cog's HTTP server, Cog reaches the worker's file server,
and, where the operator allows it, the egress proxy (apps/runtime/egress.py) which applies
the outbound guard (model downloads) or lets only the package index through (pip).

Where bubblewrap cannot run, nothing runs unsandboxed unless the operator says so with
SANDBOX=off; then only trusted accounts may push models (see `may_push`).
"""

from __future__ import annotations

import functools
import itertools
import os
import resource
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings

RELAY = Path(__file__).with_name("sandbox_relay.py")
SCRATCH = "/tmp"  # noqa: S108 (inside the sandbox: a tmpfs of its own)
INSIDE = Path("/run/selfrep")  # where the sockets that cross the boundary appear inside
SOURCE = Path("/src")  # the version's files, read-only (Cog's own convention)
ETC_FILES = (
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "nsswitch.conf",
    "host.conf",
    "gai.conf",
    "localtime",
    "mime.types",
    "os-release",
    "ssl",
    "ca-certificates",
    "ca-certificates.conf",
    "alternatives",
)
_uids = itertools.count()


class SandboxUnavailable(RuntimeError):
    """bubblewrap is missing or cannot make namespaces here; the message says what to do."""


@dataclass
class Limits:
    memory_bytes: int
    processes: int
    open_files: int
    scratch_bytes: int

    @classmethod
    def from_settings(cls) -> Limits:
        return cls(
            memory_bytes=settings.SANDBOX_MEMORY_MB << 20,
            processes=settings.SANDBOX_MAX_PROCESSES,
            open_files=settings.SANDBOX_MAX_OPEN_FILES,
            scratch_bytes=settings.SANDBOX_SCRATCH_MB << 20,
        )


@dataclass
class Sandbox:
    """One sandboxed command's view of the machine."""

    read_only: list[Path] = field(default_factory=list)  # bound at their own paths
    source: Path | None = None  # bound read-only at /src, the working directory
    writable: list[Path] = field(default_factory=list)  # bound read-write (an env being built)
    sockets: dict[str, Path] = field(default_factory=dict)  # name -> host socket, at /run/selfrep
    env: dict[str, str] = field(default_factory=dict)
    limits: Limits = field(default_factory=Limits.from_settings)
    uid: int = field(default_factory=lambda: _sandbox_uid())

    @contextmanager
    def owning(self, folder: Path) -> Iterator[None]:
        """Let the sandbox write `folder` (an environment being built) while the block runs;
        root owns it again afterwards, so no later sandbox with that user id can change it."""
        if os.geteuid() != 0:
            yield  # a user namespace maps the sandbox's user to ours: it owns what we own
            return
        _chown_tree(folder, self.uid)
        try:
            yield
        finally:
            _chown_tree(folder, 0)

    def command(self, argv: list[str]) -> list[str]:
        """The bwrap command line that runs argv inside this sandbox."""
        uid = self.uid
        args = [bwrap_path(), "--die-with-parent", "--clearenv"]
        args += ["--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts"]
        args += ["--unshare-cgroup-try", "--hostname", "model"]
        args += ["--proc", "/proc", "--dev", "/dev", "--perms", "1777"]
        args += ["--size", str(self.limits.scratch_bytes), "--tmpfs", SCRATCH]
        args += ["--perms", "1777", "--size", str(self.limits.scratch_bytes)]
        args += ["--tmpfs", "/dev/shm"]  # noqa: S108 (the sandbox's own)
        read_only = _unique([Path(sys.base_prefix), *self.read_only])
        # Folders on the way to what is bound are made 0755 (bwrap would copy the host's
        # modes, and /root is 0700): the sandbox's user id must pass through them.
        inside = [INSIDE / name for name in self.sockets] + [Path("/etc/passwd")]
        parents = {p for path in [*read_only, *self.writable, *inside] for p in path.parents}
        for parent in sorted(parents - {Path("/")}, key=lambda p: len(p.parts)):
            args += ["--perms", "0755", "--dir", str(parent)]
        args += _system_binds()
        for path in read_only:
            args += ["--ro-bind", str(path), str(path)]
        for path in self.writable:
            args += ["--bind", str(path), str(path)]
        if self.source is not None:
            args += ["--ro-bind", str(self.source), str(SOURCE)]
        args += ["--chdir", str(SOURCE) if self.source is not None else SCRATCH]
        for name, path in self.sockets.items():
            args += ["--bind", str(path), str(INSIDE / name)]
        python_bin = [str(p) for p in self.read_only if (p / "bin" / "python").exists()]
        env = {
            "PATH": ":".join([*(f"{p}/bin" for p in python_bin), "/usr/local/bin:/usr/bin:/bin"]),
            "HOME": SCRATCH,
            "TMPDIR": SCRATCH,
            "USER": "model",
            "LOGNAME": "model",
            "LANG": "C.UTF-8",
            "PYTHONNOUSERSITE": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
            **_certificates(),
            **self.env,
        }
        for key, value in env.items():
            args += ["--setenv", key, value]
        if os.geteuid() == 0:
            # As root, bwrap needs no user namespace: the command drops to an unprivileged
            # user id of its own, so its rlimits (processes above all) really apply.
            args += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
            args += [_setpriv(), f"--reuid={uid}", f"--regid={uid}", "--clear-groups"]
            args += ["--inh-caps=-all", "--bounding-set=-all", "--no-new-privs"]
        else:
            args += ["--unshare-user", "--uid", "65534", "--gid", "65534", "--disable-userns"]
        return [*args, *argv]

    def preexec(self) -> Callable[[], None]:
        """Run in the child before bwrap starts: the limits, inherited by everything inside."""
        limits = self.limits

        def apply() -> None:
            die_with_parent()
            for limit, value in (
                (resource.RLIMIT_DATA, limits.memory_bytes),
                (resource.RLIMIT_NPROC, limits.processes),
                (resource.RLIMIT_NOFILE, limits.open_files),
                (resource.RLIMIT_FSIZE, limits.scratch_bytes),
                (resource.RLIMIT_CORE, 0),
            ):
                resource.setrlimit(limit, (value, value))

        return apply

    def run(self, argv: list[str], **options) -> subprocess.CompletedProcess:
        """subprocess.run inside the sandbox (no environment of ours leaks through bwrap)."""
        return subprocess.run(
            self.command(argv),
            env={},
            preexec_fn=self.preexec(),
            **options,  # noqa: PLW1509
        )


def _chown_tree(folder: Path, uid: int) -> None:
    for root, dirs, files in os.walk(folder):
        os.lchown(root, uid, uid)
        for name in dirs + files:
            os.lchown(os.path.join(root, name), uid, uid)


def make_readable(folder: Path) -> None:
    """Let the sandbox's user id read a folder of ours it is given (model files unpacked by
    the platform into private temporary folders): folders 0755, files 0644 (or 0755)."""
    for root, dirs, files in os.walk(folder):
        os.chmod(root, 0o755)  # noqa: S103 (read-only inside; the point is that it is read)
        for name in files:
            path = os.path.join(root, name)
            if not os.path.islink(path):
                os.chmod(path, 0o755 if os.stat(path).st_mode & 0o111 else 0o644)
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(root, d))]


def die_with_parent() -> None:
    """In the child: get SIGTERM when the process that started us dies, even by kill -9."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _sandbox_uid() -> int:
    """A user id no account of this machine has, different for every sandbox of a worker
    (processes are counted per user id) and, most likely, from other workers'."""
    span = 1 << 16
    return settings.SANDBOX_UID_BASE + (os.getpid() * 64 + next(_uids)) % span


def _unique(paths: list[Path]) -> list[Path]:
    """Paths without duplicates or paths inside another one of them."""
    result: list[Path] = []
    for path in sorted({Path(p) for p in paths}, key=lambda p: len(p.parts)):
        if not any(path == kept or kept in path.parents for kept in result):
            result.append(path)
    return result


@functools.cache
def _system_binds() -> tuple[str, ...]:
    args = ["--ro-bind", "/usr", "/usr"]
    for top in ("bin", "sbin", "lib", "lib32", "lib64"):
        path = Path("/") / top
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            args += ["--ro-bind", str(path), str(path)]
    for name in ETC_FILES:
        if (Path("/etc") / name).exists():
            args += ["--ro-bind", f"/etc/{name}", f"/etc/{name}"]
    # Names for localhost and the usual users, nothing of the machine's.
    for name, path in _etc_files().items():
        args += ["--ro-bind", str(path), f"/etc/{name}"]
    return tuple(args)


def _etc_files() -> dict[str, Path]:
    folder = settings.RUNTIME_WORK_DIR / "sandbox-etc"
    contents = {
        "passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/tmp:/bin/sh\n",
        "group": "root:x:0:\nnogroup:x:65534:\n",
        "hosts": "127.0.0.1 localhost model\n::1 localhost ip6-localhost\n",
    }
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o755)
    for name, text in contents.items():
        path = folder / name
        if not path.exists() or path.read_text() != text:
            temporary = path.with_suffix(f".{os.getpid()}")
            temporary.write_text(text)
            temporary.chmod(0o644)
            temporary.replace(path)
    return {name: folder / name for name in contents}


@functools.cache
def _certificates() -> dict[str, str]:
    """Where the system's CA certificates are (Cog's uploader refuses to start without)."""
    bundle = Path("/etc/ssl/certs/ca-certificates.crt")
    if not bundle.exists():
        return {}
    return {"SSL_CERT_FILE": str(bundle), "SSL_CERT_DIR": str(bundle.parent)}


@functools.cache
def bwrap_path() -> str:
    return shutil.which("bwrap") or "bwrap"


@functools.cache
def _setpriv() -> str:
    return shutil.which("setpriv") or "/usr/bin/setpriv"


def enabled() -> bool:
    return settings.SANDBOX != "off"


@functools.cache
def problem() -> str | None:
    """Why the sandbox cannot run here (None when it can): checked once per process."""
    if not enabled():
        return None
    if shutil.which("bwrap") is None:
        return (
            "bubblewrap (bwrap) is not installed, so pushed model code cannot be sandboxed. "
            "Install it (Debian/Ubuntu: apt-get install bubblewrap), or set SANDBOX=off to run "
            "model code unsandboxed, in which case only trusted accounts may push models."
        )
    if os.geteuid() == 0 and shutil.which("setpriv") is None:
        return "setpriv (util-linux) is needed to run model code as an unprivileged user"
    try:
        result = Sandbox().run(["/bin/true"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bubblewrap could not start: {exc}"
    if result.returncode != 0:
        return (
            f"bubblewrap cannot make a sandbox on this machine ({result.stderr.strip()[:300]}); "
            "user namespaces may be disabled. Enable them, or set SANDBOX=off to run model code "
            "unsandboxed, in which case only trusted accounts may push models."
        )
    return None


def require() -> None:
    if (reason := problem()) is not None:
        raise SandboxUnavailable(reason)


PUSH_LIMITED = (
    "Model code runs without a sandbox on this installation (SANDBOX=off), so only trusted "
    "accounts may push models. Ask an operator to add yours to TRUSTED_PUSHERS."
)


def may_push(user) -> bool:
    """Who may push model code: anyone while the sandbox is on; with SANDBOX=off only staff
    and the accounts named in TRUSTED_PUSHERS."""
    if enabled():
        return True
    if user is None or not user.is_authenticated:
        return False
    return user.is_staff or user.username.lower() in {
        name.lower() for name in settings.TRUSTED_PUSHERS
    }
