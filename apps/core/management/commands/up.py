"""`manage.py up`: set up and run the whole platform in the foreground.

Production settings (DEBUG off) unless `--dev` (or DEBUG=1) asks for development mode.
Migrates, creates the operator account on first start (printing its password and an API
token), then runs the embedded Redis (unless REDIS_URL is set), daphne and a Dramatiq worker
until Ctrl-C, and stops them all cleanly.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from apps.accounts import services
from apps.accounts.models import Organization, User
from apps.core import embedded_redis
from apps.runtime import sandbox
from config.env import envbool

OPERATOR = os.environ.get("ADMIN_USERNAME", "operator")


class Command(BaseCommand):
    help = "Set up and start the whole platform (web, worker, embedded Redis) in the foreground."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument("--no-worker", action="store_true", help="run the web process only")
        parser.add_argument("--no-demo", action="store_true", help="do not push the demo models")
        parser.add_argument(
            "--dev",
            action="store_true",
            help="development mode (DEBUG=1): error pages show code, settings and every URL",
        )

    def handle(self, *args, host, port, no_worker, no_demo, dev, **options):
        settings.VAR_DIR.mkdir(parents=True, exist_ok=True)
        if dev:
            os.environ["DEBUG"] = "1"  # for the web server, the workers and the demo push
        # Workers write absolute URLs of output files; they must point at this server.
        os.environ.setdefault("PUBLIC_URL", settings.PUBLIC_URL or f"http://{host}:{port}")
        self.children: list[tuple[str, subprocess.Popen]] = []
        self.tasks: list[tuple[str, subprocess.Popen]] = []
        self.stopping = False
        self.exit_code = 0
        self._restarts = 0
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        try:
            self._check_sandbox()
            self._start_redis()
            self.stdout.write("Applying database migrations…")
            call_command("migrate", interactive=False, verbosity=0)
            credentials = self._seed()
            self._spawn(
                "web",
                [
                    sys.executable,
                    "-m",
                    "daphne",
                    "-b",
                    host,
                    "-p",
                    str(port),
                    "config.asgi:application",
                ],
            )
            if not no_worker:
                manage = [sys.executable, str(settings.BASE_DIR / "manage.py"), "worker"]
                # Predictions run one at a time per worker on the hardware queues; webhooks
                # and housekeeping have a worker of their own so they never wait behind a model.
                self._spawn("worker", [*manage, "--queues", *settings.HARDWARE_QUEUES])
                self._spawn(
                    "worker-services",
                    [*manage, "--queues", "webhooks", "default", "--threads", "4"],
                )
                # Deployments' instances: started and stopped by the autoscaler.
                self._spawn(
                    "autoscaler",
                    [sys.executable, str(settings.BASE_DIR / "manage.py"), "autoscaler"],
                )
            self._banner(host, port, credentials)
            if not no_demo:
                self.stdout.write(
                    "Pushing the demo models in the background (the first time "
                    "builds their environments: a few minutes)…"
                )
                self._run_task(
                    "demo models",
                    [sys.executable, str(settings.BASE_DIR / "manage.py"), "seed_demo"],
                )
            self._watch()
        finally:
            self._stop_all()
        if self.exit_code:
            sys.exit(self.exit_code)

    # --- setup ---------------------------------------------------------------------------

    def _check_sandbox(self) -> None:
        """Model code runs in bubblewrap's sandbox; without it nothing pushed may run, unless
        the operator chose SANDBOX=off (and then only trusted accounts push)."""
        if not sandbox.enabled():
            self.stderr.write(
                "SANDBOX=off: model code runs unsandboxed, as this platform's own user. Only "
                "staff and the accounts in TRUSTED_PUSHERS may push models (docs/security.md)."
            )
            return
        problem = sandbox.problem()
        if problem and not shutil.which("bwrap") and os.geteuid() == 0 and shutil.which("apt-get"):
            self.stdout.write("Installing bubblewrap, the sandbox model code runs in…")
            quiet = {"stdout": subprocess.DEVNULL, "check": False}
            subprocess.run(["apt-get", "update", "-qq"], **quiet)
            subprocess.run(
                ["apt-get", "install", "-y", "-qq", "bubblewrap"],
                env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
                **quiet,
            )
            sandbox.problem.cache_clear()
            sandbox.bwrap_path.cache_clear()
            problem = sandbox.problem()
        if problem:
            raise CommandError(problem)
        self.stdout.write("Model code runs sandboxed (bubblewrap; docs/security.md).")

    def _start_redis(self) -> None:
        if not settings.EMBEDDED_REDIS:
            return
        socket_path = settings.EMBEDDED_REDIS_SOCKET
        if embedded_redis.is_answering(socket_path):
            self.stdout.write(f"Using the embedded Redis already running on {socket_path}")
            return
        self.stdout.write(f"Starting the embedded Redis on {socket_path}")
        process = embedded_redis.start(socket_path, settings.VAR_DIR / "redis")
        self.children.append(("redis", process))

    @transaction.atomic
    def _seed(self) -> tuple[str, str, str] | None:
        """Create the operator (a superuser) and the demo organization on the first start."""
        if User.objects.filter(is_superuser=True).exists():
            return None
        password = secrets.token_urlsafe(12)
        operator = User.objects.create_superuser(username=OPERATOR, password=password, email="")
        _token, raw = services.token_create(
            account=operator.account, name="default", created_by=operator
        )
        if not Organization.objects.filter(name="demo").exists():
            services.organization_create(name="demo", display_name="Demo models", owner=operator)
        return operator.username, password, raw

    # --- processes -----------------------------------------------------------------------

    def _spawn(self, name: str, argv: list[str]) -> None:
        self.children.append((name, self._start(argv)))

    def _start(self, argv: list[str]) -> subprocess.Popen:
        # Own process group: Ctrl-C reaches only us, and we stop children in order.
        return subprocess.Popen(argv, start_new_session=True, cwd=settings.BASE_DIR)

    def _run_task(self, name: str, argv: list[str]) -> None:
        process = subprocess.Popen(argv, start_new_session=True, cwd=settings.BASE_DIR)
        self.tasks.append((name, process))

    def _on_signal(self, signum, frame) -> None:
        self.stopping = True

    def _watch(self) -> None:
        while not self.stopping:
            for name, task in list(self.tasks):
                if task.poll() is not None:
                    self.tasks.remove((name, task))
                    if task.returncode == 0:
                        self.stdout.write(f"Done: {name}.")
                    else:
                        self.stderr.write(
                            f"{name} failed (exit code {task.returncode}); "
                            "the platform keeps running."
                        )
            for index, (name, process) in enumerate(self.children):
                if process.poll() is None:
                    continue
                if name.startswith("worker") and self._restarts < 5:
                    # A worker that dies (killed, out of memory) is replaced; its prediction
                    # is failed by the sweeper of the new one.
                    self._restarts += 1
                    self.stderr.write(
                        f"worker exited with code {process.returncode}; starting a new one."
                    )
                    self.children[index] = (name, self._start(process.args))
                    continue
                self.stderr.write(f"{name} exited with code {process.returncode}; stopping.")
                self.stopping = True
                self.exit_code = 1
                break
            time.sleep(0.5)

    def _stop_all(self) -> None:
        for _name, task in self.tasks:
            if task.poll() is None:
                task.terminate()
                task.wait()
        if not self.children:
            return
        self.stdout.write("Stopping…")
        # Web and worker first, Redis last, so nothing loses its broker mid-shutdown.
        for name, process in reversed(self.children):
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    self.stderr.write(f"{name} did not stop in 15 s; killing it.")
                    process.kill()
                    process.wait()
        self.children.clear()
        self.stdout.write("Stopped.")

    def _banner(self, host: str, port: int, credentials) -> None:
        url = settings.PUBLIC_URL or f"http://{host}:{port}"
        lines = [
            "",
            "=" * 64,
            f"  The platform is up at {url}/",
            f"  API: {url}/v1/  (docs: {url}/v1/docs)",
        ]
        if credentials:
            username, password, token = credentials
            lines += [
                f"  Log in as:  {username}",
                f"  Password:   {password}",
                f"  API token:  {token}",
                "  (shown once: keep them somewhere safe)",
            ]
        else:
            lines += [
                "  Log in with your existing account "
                "(reset a password: python3 manage.py changepassword NAME)"
            ]
        if envbool("DEBUG", False):
            lines += [
                "  Development mode (DEBUG=1): error pages show code and settings;",
                "  never let other people reach this server.",
            ]
        lines += ["  Stop with Ctrl-C", "=" * 64, ""]
        self.stdout.write("\n".join(lines))
