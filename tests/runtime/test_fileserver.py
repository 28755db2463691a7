"""The worker's file server: a model that uploads files it never returns cannot fill the
worker's disk."""

from __future__ import annotations

import http.client

from apps.runtime.fileserver import FileServer


def put(server: FileServer, name: str, size: int) -> http.client.HTTPResponse:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    path = server.upload_url.removeprefix(server.base) + "/" + name
    connection.request("PUT", path, body=b"x" * size)
    response = connection.getresponse()
    response.read()
    connection.close()
    return response


def test_it_refuses_uploads_past_what_it_may_hold_until_outputs_claim_theirs(tmp_path):
    server = FileServer(tmp_path, max_upload_bytes=1000, max_held_bytes=2500)
    try:
        first, second = put(server, "a.bin", 1000), put(server, "b.bin", 1000)
        assert first.status == second.status == 201
        refused = put(server, "c.bin", 1000)
        assert refused.status == 507
        assert len(list((tmp_path / "outputs").iterdir())) == 2  # nothing of it was written

        claimed = server.output_path(first.headers["Location"])
        assert claimed is not None and claimed.stat().st_size == 1000
        server.discard_outputs([claimed])  # stored by the worker, so no longer held
        assert put(server, "c.bin", 1000).status == 201
    finally:
        server.close()


def test_an_upload_over_the_file_limit_is_refused(tmp_path):
    server = FileServer(tmp_path, max_upload_bytes=1000)
    try:
        assert put(server, "big.bin", 1001).status == 413
    finally:
        server.close()
