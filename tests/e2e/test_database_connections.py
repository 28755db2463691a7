"""Database connections of the web server under load: with PostgreSQL, requests share a pool
(under ASGI every request runs in a thread of its own, so without one each request opened a
PostgreSQL session of its own)."""

from __future__ import annotations

import os
import signal
import subprocess

import httpx
import pytest
from django.conf import settings
from django.db import connection

from apps.core.net import free_port
from tests.e2e.platform import daphne_argv, process_env, wait_until_serving

pytestmark = pytest.mark.django_db(transaction=True)


def sessions_opened(name: str) -> int:
    """Sessions PostgreSQL has established on the database so far (pg_stat_database)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT sessions FROM pg_stat_database WHERE datname = %s", [name])
        return cursor.fetchone()[0]


@pytest.mark.skipif(
    not settings.DATABASES["default"]["ENGINE"].endswith("postgresql"),
    reason="PostgreSQL sessions; SQLite has no server to open them on",
)
def test_api_requests_share_pooled_postgresql_connections(cast, tmp_path):
    assert settings.DATABASES["default"]["OPTIONS"]["pool"]
    port = free_port()
    log = open(tmp_path / "web.log", "wb")  # noqa: SIM115
    web = subprocess.Popen(
        daphne_argv(port),
        cwd=settings.BASE_DIR,
        env=process_env(),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        headers = {"Authorization": f"Bearer {cast.alice.token}"}
        wait_until_serving(url, (tmp_path / "web.log").read_text)
        name = connection.settings_dict["NAME"]
        before = sessions_opened(name)
        with httpx.Client(base_url=url, headers=headers, timeout=10) as client:
            for _ in range(40):
                response = client.get("/v1/account")
                assert response.status_code == 200, response.text
                assert response.json()["username"] == cast.alice.user.username
        opened = sessions_opened(name) - before
        # This test's own connection counts once at most; the pool's minimum size twice more.
        assert opened <= 4, f"{opened} PostgreSQL sessions for 40 requests"
    finally:
        os.killpg(web.pid, signal.SIGTERM)
        web.wait(timeout=20)
        log.close()
