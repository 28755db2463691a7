"""The shared cast and the real services every test talks to.

alice owns the organization "acme", bob is a member of it, charlie is an outsider.
Each of them (and acme) has an API token.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.db import connections

from apps.accounts import services
from apps.accounts.models import Membership, Organization, User
from apps.core import embedded_redis
from apps.runtime import packageindex
from tests.network_fence import network_fence as fence

# The suite runs the production settings (DEBUG off, as `manage.py up` does by default). Its
# webhook receivers and file servers listen on loopback, which production refuses to reach
# unless allowed: allowed here and in every process the tests start. The tests of that refusal
# set OUTBOUND_ALLOWLIST empty themselves.
os.environ.setdefault("OUTBOUND_ALLOWLIST", "127.0.0.0/8,::1/128")
settings.OUTBOUND_ALLOWLIST = os.environ["OUTBOUND_ALLOWLIST"].split(",")

# Connections opened by other threads (Channels' database_sync_to_async, the live server) must
# not outlive their work, or the test database cannot be dropped at the end.
connections.settings["default"]["CONN_MAX_AGE"] = 0


class NetworkFence:
    """What the fence refused, in this process and in the processes the tests started."""

    def __init__(self, log: Path) -> None:
        self.log = log
        self.read = 0

    def take(self) -> list[str]:
        """The refusals since the last call (a test that provokes some takes them)."""
        with self.log.open() as file:
            file.seek(self.read)
            refusals = file.read()
            self.read = file.tell()
        fence.refused.clear()
        return refusals.splitlines()


@pytest.fixture(scope="session", autouse=True)
def network_fence_installed(tmp_path_factory):
    """Tests never leave this machine: a connect beyond loopback (or a DNS lookup) raises
    NetworkFenceError before anything is sent, here and in every Python process the tests
    start (through tests/network_fence/sitecustomize.py). The database and Redis the suite
    was pointed at stay reachable."""
    log = tmp_path_factory.mktemp("network-fence") / "refused.log"
    log.touch()
    servers = [settings.DATABASES["default"].get("HOST"), urlsplit(settings.REDIS_URL).hostname]
    allow = [host for host in servers if host and not host.startswith("/")]
    # Model environments are built from the package index, through the sandbox's egress
    # proxy (apps/runtime/egress.py), which runs in the process that builds them.
    allow += sorted(packageindex.configuration().hosts)
    saved = {name: os.environ.get(name) for name in ("PYTHONPATH", fence.LOG_ENV, fence.ALLOW_ENV)}
    folder = str(Path(fence.__file__).parent)
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [folder, saved["PYTHONPATH"]]))
    os.environ[fence.LOG_ENV] = str(log)
    os.environ[fence.ALLOW_ENV] = ",".join(allow)
    fence.install(allow)
    yield NetworkFence(log)
    fence.uninstall()
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(autouse=True)
def network_fence(network_fence_installed):
    """Fails the test that tried to leave the machine, even if the code swallowed the error."""
    yield network_fence_installed
    if refusals := network_fence_installed.take():
        pytest.fail("tests never leave this machine; this one tried to:\n" + "\n".join(refusals))


@pytest.fixture(scope="session", autouse=True)
def redis_server():
    """Embedded mode: run the test Redis for the session. Otherwise REDIS_URL must answer."""
    process = None
    if settings.EMBEDDED_REDIS and not embedded_redis.is_answering(settings.EMBEDDED_REDIS_SOCKET):
        process = embedded_redis.start(settings.EMBEDDED_REDIS_SOCKET, settings.VAR_DIR / "redis")
    yield settings.REDIS_URL
    if process is not None:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@dataclass
class Person:
    user: User
    token: str
    password: str = "correct horse battery staple"

    @property
    def username(self) -> str:
        return self.user.username

    def auth(self) -> dict[str, str]:
        return {"HTTP_AUTHORIZATION": f"Bearer {self.token}"}


@dataclass
class Cast:
    alice: Person
    bob: Person
    charlie: Person
    acme: Organization
    acme_token: str


def make_person(username: str) -> Person:
    user = services.user_create(username=username, password=Person.password)
    _token, raw = services.token_create(account=user.account, name="test", created_by=user)
    return Person(user=user, token=raw)


def seed_hardware() -> None:
    """The hardware table from its data migration: transactional tests empty the database
    after each test, so it is put back before each."""
    import importlib

    from django.apps import apps

    importlib.import_module("apps.billing.migrations.0002_seed_hardware").seed(apps, None)


@pytest.fixture
def cast(db) -> Cast:
    seed_hardware()
    alice, bob, charlie = make_person("alice"), make_person("bob"), make_person("charlie")
    acme = services.organization_create(name="acme", display_name="Acme Corp", owner=alice.user)
    Membership.objects.create(organization=acme, user=bob.user, role=Membership.Role.MEMBER)
    _token, acme_raw = services.token_create(
        account=acme.account, name="acme ci", created_by=alice.user
    )
    return Cast(alice=alice, bob=bob, charlie=charlie, acme=acme, acme_token=acme_raw)


@pytest.fixture
def client_for(client):
    """A test client logged in as the given person."""

    def login(person: Person):
        client.force_login(person.user)
        return client

    return login


@pytest.fixture(autouse=True)
def forget_login_failures(redis_server):
    """Failed logins are counted per account name and client address for 15 minutes; every
    test starts with none counted (they would add up across tests that log in as alice)."""
    from apps.core.redis import client

    redis = client()
    for key in redis.scan_iter("selfrep:login-failures:*"):
        redis.delete(key)


@pytest.fixture
def process_env(db):
    """Environment for platform processes (workers, servers) that must use the test database."""
    import os

    env = dict(os.environ, SELFREP_BOOTSTRAP="0")
    database = connections["default"].settings_dict
    if database["ENGINE"].endswith("sqlite3"):
        env["DATABASE_URL"] = f"sqlite:///{database['NAME']}"
    else:
        env["DATABASE_URL"] = (
            f"postgres://{database['USER']}:{database['PASSWORD']}@{database['HOST']}:"
            f"{database['PORT']}/{database['NAME']}"
        )
    return env
