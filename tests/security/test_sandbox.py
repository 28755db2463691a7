"""A hostile model pushed by charlie tries everything the sandbox forbids, at push time (the
predictor is imported to read its schema) and in its model process; every attempt fails, and
alice's model keeps working beside it. Real pushes, real model processes, real bubblewrap."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from textwrap import dedent

import pytest
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connections, transaction

from apps.catalog.models import Model, Version
from apps.catalog.services import PushError, version_push
from apps.predictions.models import Prediction
from apps.predictions.pool import get_pool, shutdown_pool
from apps.predictions.services import prediction_create
from apps.predictions.worker import prediction_run

# Runs inside the sandbox (at import, and in predict()): each attempt answers "blocked: …"
# when the sandbox stopped it and "OPEN: …" when it got through.
ATTEMPTS = """
import glob, json, os, socket, sys, time

def _try(results, name, action):
    try:
        got = action()
    except BaseException as exc:  # noqa
        results[name] = f"blocked: {type(exc).__name__}: {exc}"[:300]
    else:
        results[name] = f"OPEN: {got!r}"[:300]

def _read(path):
    with open(path, "rb") as handle:
        return handle.read(64)

def _write(folder):
    target = os.path.join(folder, "planted.pth")
    with open(target, "w") as handle:
        handle.write("import os; os.system('echo pwned')\\n")
    return target

def _connect_tcp(port):
    with socket.create_connection(("127.0.0.1", port), timeout=2) as conn:
        return conn.getpeername()

def _connect_unix(path):
    with socket.socket(socket.AF_UNIX) as conn:
        conn.settimeout(2)
        conn.connect(path)
        return path

def _environ_secrets(words):
    found = []
    for path in glob.glob("/proc/[0-9]*/environ"):
        try:
            text = open(path, "rb").read().decode(errors="replace")
        except OSError:
            continue
        found += [f"{path}: {word}" for word in words if word and word in text]
    if found:
        return found
    raise PermissionError("no environment of another process carries the platform's secrets")

def _processes():
    pids = [p for p in os.listdir("/proc") if p.isdigit()]
    if len(pids) > 12:
        return f"{len(pids)} processes visible"
    raise PermissionError(f"only the sandbox's own {len(pids)} processes are visible")

def attempts(paths):
    results = {}
    _try(results, "read the database file", lambda: _read(paths["database"]))
    _try(results, "list VAR_DIR", lambda: os.listdir(paths["var_dir"]))
    _try(results, "read the platform's settings", lambda: _read(paths["settings"]))
    _try(results, "read another version's files", lambda: os.listdir(paths["other_version"]))
    _try(results, "read alice's output", lambda: _read(paths["alice_output"]))
    _try(results, "read the secret key file", lambda: _read(paths["secret_key_file"]))
    for name, port in paths["ports"].items():
        _try(results, f"connect to {name} on 127.0.0.1:{port}", lambda p=port: _connect_tcp(p))
    if paths.get("redis_socket"):
        _try(results, "connect to the embedded Redis", lambda: _connect_unix(paths["redis_socket"]))
    _try(results, "find the platform's secrets in /proc/*/environ",
         lambda: _environ_secrets(paths["secrets"]))
    _try(results, "see the host's processes", _processes)
    site = next(p for p in sys.path if p.endswith("site-packages"))
    _try(results, "write into its environment", lambda: _write(site))
    shared = next(p for p in sys.path if "/shared/" in p)
    _try(results, "write into the shared packages", lambda: _write(shared))
    _try(results, "write into its own version's files", lambda: _write(os.getcwd()))
    _try(results, "reach the internet", lambda: socket.create_connection(("1.1.1.1", 443), 2))
    return results
"""

PREDICTOR = """
import json, os, time
from cog import BasePredictor, Input

PATHS = json.loads({paths!r})
{attempts}
REPORT = json.dumps(attempts(PATHS))  # at import: during the push, too

class Predictor(BasePredictor):
    def predict(self, action: str = "probe", report: str = Input(default=REPORT)) -> str:
        if action == "probe":
            return json.dumps(attempts(PATHS))
        if action == "fork-bomb":
            children = []
            try:
                for _ in range(5000):
                    pid = os.fork()
                    if pid == 0:
                        time.sleep(2)
                        os._exit(0)
                    children.append(pid)
            except OSError as exc:
                outcome = f"blocked after {{len(children)}} processes: {{exc}}"
            else:
                outcome = f"OPEN: {{len(children)}} processes"
            for pid in children:
                os.waitpid(pid, 0)
            return outcome
        if action == "allocate":
            hog = bytearray(3 << 30)
            return f"OPEN: allocated {{len(hog)}} bytes"
        return "unknown action"
"""

GREETER = """
from cog import BasePredictor, Path

class Predictor(BasePredictor):
    def predict(self, name: str = "x") -> str:
        return f"hello {name}"
"""


@pytest.fixture(autouse=True)
def _limits(settings):
    settings.SANDBOX_MAX_PROCESSES = 128
    settings.SANDBOX_MEMORY_MB = 1024
    yield
    shutdown_pool()


def push(owner, tmp_path: Path, name: str, source: str) -> Version:
    directory = tmp_path / name
    directory.mkdir()
    (directory / "cog.yaml").write_text('predict: "predict.py:Predictor"\n')
    (directory / "predict.py").write_text(dedent(source))
    model = Model.objects.create(owner=owner.account, name=name)
    version, _ = version_push(model=model, source_dir=directory)
    return version


def run(version: Version, **input) -> Prediction:
    with transaction.atomic():
        prediction = prediction_create(version=version, owner=version.model.owner, input=input)
    prediction_run(prediction.id)
    prediction.refresh_from_db()
    return prediction


def listening_port() -> socket.socket:
    """Stands for the platform's web server: a listening loopback port."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    return server


def targets(alice_version: Version, alice_output: str, web: socket.socket) -> dict:
    database = connections["default"].settings_dict
    ports = {"the web server": web.getsockname()[1], "PostgreSQL": 5432, "Redis": 6379}
    if database["ENGINE"].endswith("postgresql"):
        ports["the database"] = int(database["PORT"] or 5432)
    return {
        "database": str(database["NAME"]),
        "var_dir": str(settings.VAR_DIR),
        "settings": str(settings.BASE_DIR / "config" / "settings.py"),
        "other_version": str(settings.RUNTIME_WORK_DIR / "versions" / alice_version.digest),
        "alice_output": str(Path(settings.MEDIA_ROOT) / alice_output),
        "secret_key_file": str(settings.VAR_DIR / "secret_key"),
        "ports": ports,
        "redis_socket": str(settings.EMBEDDED_REDIS_SOCKET) if settings.EMBEDDED_REDIS else "",
        "secrets": [settings.SECRET_KEY, "DATABASE_URL", "REDIS_URL", "SECRET_KEY"],
    }


def assert_all_blocked(report: dict) -> None:
    assert report, "the hostile model reported no attempts"
    opened = {
        name: outcome for name, outcome in report.items() if not outcome.startswith("blocked")
    }
    assert not opened, f"the sandbox let these through: {json.dumps(opened, indent=1)}"


@pytest.fixture
def alices_model(cast, tmp_path):
    version = push(cast.alice.user, tmp_path, "greeter", GREETER)
    first = run(version, name="alice")
    assert first.status == "succeeded", first.error
    output = default_storage.save("predictions/alice-private/result.txt", ContentFile(b"secret"))
    return version, output


def test_it_stops_a_hostile_model_at_push_time_and_in_its_process(
    transactional_db, cast, tmp_path, alices_model
):
    alice_version, alice_output = alices_model
    web = listening_port()
    try:
        paths = targets(alice_version, alice_output, web)
        source = PREDICTOR.format(paths=json.dumps(paths), attempts=ATTEMPTS)
        hostile = push(cast.charlie.user, tmp_path, "innocent", source)

        # At push time the predictor was imported (to read its schema) in the sandbox.
        inputs = hostile.openapi_schema["components"]["schemas"]["Input"]["properties"]
        assert_all_blocked(json.loads(inputs["report"]["default"]))

        probe = run(hostile, action="probe")
        assert probe.status == "succeeded", probe.error
        assert_all_blocked(json.loads(probe.output))
    finally:
        web.close()

    again = run(alice_version, name="still here")
    assert again.status == "succeeded", again.error
    assert again.output == "hello still here"


def test_it_caps_the_processes_a_model_may_start(transactional_db, cast, tmp_path, alices_model):
    alice_version, _output = alices_model
    hostile = push(
        cast.charlie.user,
        tmp_path,
        "forker",
        PREDICTOR.format(paths=json.dumps({}), attempts="def attempts(paths):\n    return {}\n"),
    )
    bomb = run(hostile, action="fork-bomb")
    assert bomb.status == "succeeded", bomb.error
    assert bomb.output.startswith("blocked after"), bomb.output
    assert int(bomb.output.split()[2]) < settings.SANDBOX_MAX_PROCESSES

    again = run(alice_version, name="after the bomb")
    assert again.output == "hello after the bomb"


def test_it_fails_a_prediction_past_the_memory_limit_and_restarts_the_process(
    transactional_db, cast, tmp_path, alices_model
):
    hostile = push(
        cast.charlie.user,
        tmp_path,
        "hog",
        PREDICTOR.format(paths=json.dumps({}), attempts="def attempts(paths):\n    return {}\n"),
    )
    hog = run(hostile, action="allocate")
    assert hog.status == "failed"
    assert "out of memory" in hog.error and "SANDBOX_MEMORY_MB" in hog.error, hog.error
    process = get_pool().processes.get(hostile.digest)
    assert process is None, "the process that ran out of memory is not kept for the next run"

    after = run(hostile, action="probe")
    assert after.status == "succeeded", after.error
    assert "cold boot" in after.logs  # a fresh process


def test_it_refuses_requirements_that_point_pip_elsewhere(cast, tmp_path):
    for line in (
        "--index-url http://127.0.0.1:9/simple",
        "--extra-index-url=http://10.0.0.1/simple",
        "-f /etc",
        "--trusted-host evil.example",
        "requests @ http://127.0.0.1:9/requests.tar.gz",
        "https://127.0.0.1:9/pkg.whl",
        "./local-package",
    ):
        directory = tmp_path / f"m{abs(hash(line))}"
        directory.mkdir()
        (directory / "cog.yaml").write_text(
            f'build:\n  python_packages:\n    - "{line}"\npredict: "predict.py:Predictor"\n'
        )
        (directory / "predict.py").write_text(dedent(GREETER))
        model = Model.objects.create(owner=cast.charlie.user.account, name=directory.name)
        with pytest.raises(PushError) as refused:
            version_push(model=model, source_dir=directory)
        assert "package" in str(refused.value) or "pip" in str(refused.value), line


def test_it_lets_only_trusted_accounts_push_when_the_operator_turned_the_sandbox_off(
    client, cast, settings
):
    from tests.catalog.test_versions_api import GOOD, targz, upload

    settings.SANDBOX = "off"
    settings.TRUSTED_PUSHERS = ["bob"]
    refused = upload(client, cast.charlie, "/v1/models/charlie/adder/versions", targz(GOOD))
    assert refused.status_code == 403
    assert refused["Content-Type"] == "application/problem+json"
    assert "SANDBOX=off" in refused.json()["detail"]
    assert not Model.objects.filter(name="adder", owner=cast.charlie.user.account).exists()

    client.force_login(cast.charlie.user)
    Model.objects.create(owner=cast.charlie.user.account, name="page-push")
    page = client.post(
        "/charlie/page-push/settings/push",
        {"archive": _archive(targz(GOOD))},
    )
    assert page.status_code == 403
    assert b"TRUSTED_PUSHERS" in page.content

    trusted = upload(client, cast.bob, "/v1/models/bob/adder/versions", targz(GOOD))
    assert trusted.status_code == 201, trusted.content

    settings.SANDBOX = "bwrap"  # with the sandbox on, anyone may push
    allowed = upload(client, cast.charlie, "/v1/models/charlie/adder/versions", targz(GOOD))
    assert allowed.status_code == 201, allowed.content


def _archive(data: bytes):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("model.tar.gz", data, content_type="application/gzip")


FETCHER = """
import os, urllib.request
from cog import BasePredictor

class Predictor(BasePredictor):
    def predict(self, url: str) -> str:
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                return "OPEN: " + response.read().decode()
        except Exception as exc:
            return f"blocked: {exc}"
"""


@pytest.fixture
def weights_server():
    """A stand-in for a host that serves weights, on a loopback address of its own."""
    import http.server
    import threading

    class Weights(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = b"weights"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.2", 0), Weights)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.2:{server.server_address[1]}/model.bin"
    server.shutdown()
    server.server_close()


def test_model_egress_goes_only_where_the_outbound_guard_allows(
    transactional_db, cast, tmp_path, settings, weights_server
):
    fetcher = push(cast.charlie.user, tmp_path, "fetcher", FETCHER)

    # By default a model reaches nothing at all.
    closed = run(fetcher, url=weights_server)
    assert closed.output.startswith("blocked"), closed.output

    # With model egress on, it goes out through the guard: allowed addresses only.
    settings.SANDBOX_MODEL_EGRESS = True
    shutdown_pool()
    settings.OUTBOUND_ALLOWLIST = ["127.0.0.2/32"]  # stands for the internet here
    allowed = run(fetcher, url=weights_server)
    assert allowed.output == "OPEN: weights", allowed.output

    settings.OUTBOUND_ALLOWLIST = []  # production: loopback and private addresses refused
    refused = run(fetcher, url=weights_server)
    assert refused.output.startswith("blocked") and "403" in refused.output, refused.output
