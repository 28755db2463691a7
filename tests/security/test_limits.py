"""Size limits on what people upload, and per-account rate limits on the API."""

from __future__ import annotations

import io
import json
import tarfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.files.uploadhandler import TemporaryFileUploadHandler
from django.test import Client

from apps.files.models import File
from apps.files.services import MAX_FILE_BYTES
from apps.predictions.models import Prediction
from tests.catalog.factories import SCHEMA
from tests.openapi import assert_problem
from tests.security.conftest import World, client_as

MB = 1024 * 1024


def stored(media_root) -> list:
    return [path for path in media_root.rglob("*") if path.is_file()]


@pytest.fixture
def sparse_file(tmp_path):
    """One byte over the Files API's limit, taking no disk space."""
    path = tmp_path / "huge.bin"
    with open(path, "wb") as handle:
        handle.truncate(MAX_FILE_BYTES + 1)
    return path


def test_the_files_api_refuses_more_than_100_mb(world: World, sparse_file, settings):
    before = set(stored(settings.MEDIA_ROOT))
    with open(sparse_file, "rb") as handle:
        response = Client().post(
            "/v1/files", {"content": handle}, HTTP_AUTHORIZATION=f"Bearer {world.cast.bob.token}"
        )
    body = assert_problem(response, 413)
    assert "100MB" in body["detail"]
    assert not File.objects.filter(owner__name="bob").exists()
    assert set(stored(settings.MEDIA_ROOT)) == before


def with_file_input(version) -> None:
    schema = json.loads(json.dumps(SCHEMA))
    schema["components"]["schemas"]["Input"]["properties"]["image"] = {
        "type": "string",
        "format": "uri",
        "title": "Image",
        "x-order": 5,
    }
    version.openapi_schema = schema
    version.save()


def test_playground_uploads_over_the_input_limit_are_refused(world: World, settings):
    settings.MAX_INPUT_FILE_BYTES = MB
    with_file_input(world.public_version)
    client = client_as(world, "outsider")
    before = set(stored(settings.MEDIA_ROOT))
    big = SimpleUploadedFile("big.png", b"\0" * (MB + 1), content_type="image/png")
    response = client.post(f"/{world.public.full_name}/predictions", {"prompt": "x", "image": big})
    assert response.status_code == 422
    assert "big.png is larger than 1 MB." in response.content.decode()
    assert not Prediction.objects.filter(owner__name="charlie").exists()
    assert set(stored(settings.MEDIA_ROOT)) == before  # nothing kept of the upload
    small = SimpleUploadedFile("small.png", b"\0" * MB, content_type="image/png")
    response = client.post(
        f"/{world.public.full_name}/predictions", {"prompt": "x", "image": small}
    )
    assert response.status_code == 302


def tarball(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def test_a_model_archive_over_the_limit_is_refused_with_a_clear_error(world: World, settings):
    settings.MAX_VERSION_ARCHIVE_BYTES = 2 * MB
    big = SimpleUploadedFile("model.tar.gz", b"\0" * (2 * MB + 1))
    response = client_as(world, "member").post(
        f"/{world.private.full_name}/settings/push", {"archive": big}
    )
    assert response.status_code == 422
    assert "The archive must be smaller than 2 MB." in response.content.decode()
    assert world.private.versions.count() == 1


@pytest.mark.parametrize("api", [True, False])
def test_an_archive_that_unpacks_past_the_limit_is_refused(world: World, settings, api):
    """Small to upload, large once unpacked (a compression bomb)."""
    settings.MAX_VERSION_ARCHIVE_BYTES = 2 * MB
    bomb = tarball({"cog.yaml": b"predict: predict.py:P\n", "weights.bin": b"\0" * (3 * MB)})
    assert len(bomb) < 100_000
    archive = SimpleUploadedFile("model.tar.gz", bomb)
    if api:
        response = Client().post(
            f"/v1/models/{world.private.full_name}/versions",
            {"archive": archive},
            HTTP_AUTHORIZATION=f"Bearer {world.cast.acme_token}",
        )
        body = assert_problem(response, 422)
        assert f"unpacks to more than {2 * MB} bytes" in body["detail"]
    else:
        response = client_as(world, "owner").post(
            f"/{world.private.full_name}/settings/push", {"archive": archive}
        )
        assert response.status_code == 422
        assert f"unpacks to more than {2 * MB} bytes" in response.content.decode()
    assert world.private.versions.count() == 1


def test_an_oversized_json_body_is_a_413(world: World, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    response = Client().post(
        "/v1/predictions",
        json.dumps({"version": "acme/open-model", "input": {"prompt": "x" * 20_000}}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {world.cast.bob.token}",
    )
    assert_problem(response, 413)
    assert not Prediction.objects.filter(owner__name="bob").exists()


@pytest.mark.parametrize(
    ("method", "path"),
    [("post", "/v1/models"), ("patch", "/v1/models/acme/open-model")],
)
def test_every_api_route_answers_an_oversized_body_with_a_413(world: World, settings, method, path):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    response = getattr(Client(), method)(
        path,
        json.dumps({"owner": "bob", "name": "big", "description": "x" * 20_000}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {world.cast.alice.token}",
    )
    assert_problem(response, 413)


def assert_throttled(response) -> None:
    body = assert_problem(response, 429)
    assert 1 <= int(response["Retry-After"]) <= 61
    assert "Retry-After" not in body


def test_api_requests_are_rate_limited_per_account(world: World, settings):
    settings.RATE_LIMIT_OTHER_PER_MINUTE = 3
    bob = {"HTTP_AUTHORIZATION": f"Bearer {world.cast.bob.token}"}
    client = Client()
    assert [client.get("/v1/account", **bob).status_code for _ in range(3)] == [200] * 3
    for path in ("/v1/account", "/v1/models", "/v1/files"):
        assert_throttled(client.get(path, **bob))
    assert_throttled(client.post("/v1/files", {"content": SimpleUploadedFile("a", b"a")}, **bob))
    assert not File.objects.filter(owner__name="bob").exists()
    # Another account is not affected, and neither are pages.
    assert client.get("/v1/account", **world.cast.charlie.auth()).status_code == 200
    assert client_as(world, "member").get("/dashboard").status_code == 200


def test_prediction_creation_has_its_own_limit(world: World, settings):
    settings.RATE_LIMIT_CREATE_PER_MINUTE = 2
    charlie = {"HTTP_AUTHORIZATION": f"Bearer {world.cast.charlie.token}"}
    client = Client()

    def create(path="/v1/predictions", body=None):
        body = body or {"version": "acme/open-model", "input": {"prompt": "x"}}
        return client.post(path, json.dumps(body), content_type="application/json", **charlie)

    assert [create().status_code for _ in range(2)] == [201, 201]
    assert_throttled(create())
    assert_throttled(
        create(f"/v1/models/{world.public.full_name}/predictions", {"input": {"prompt": "x"}})
    )
    assert Prediction.objects.filter(owner__name="charlie").count() == 2
    assert client.get("/v1/predictions", **charlie).status_code == 200  # reading still works


class RecordingHandler(TemporaryFileUploadHandler):
    """Django's own handler that writes parts to disk, counting the bytes it is given."""

    written: list[int] = []

    def receive_data_chunk(self, raw_data, start):
        RecordingHandler.written.append(len(raw_data))
        return super().receive_data_chunk(raw_data, start)


@pytest.mark.parametrize("route", ["playground", "push", "api push", "cover"])
def test_oversized_uploads_are_cut_off_while_they_stream(world: World, settings, route):
    """Past its limit, the rest of a part is never written to disk; the form (or the API)
    still refuses it with its usual message."""
    settings.FILE_UPLOAD_HANDLERS = [f"{__name__}.RecordingHandler"]
    settings.MAX_INPUT_FILE_BYTES = settings.MAX_VERSION_ARCHIVE_BYTES = MB
    RecordingHandler.written = []
    payload = b"\0" * (20 * MB)
    if route == "playground":
        with_file_input(world.public_version)
        big = SimpleUploadedFile("big.png", payload, content_type="image/png")
        response = client_as(world, "outsider").post(
            f"/{world.public.full_name}/predictions", {"prompt": "x", "image": big}
        )
        assert response.status_code == 422
        assert "big.png is larger than 1 MB." in response.content.decode()
    elif route == "push":
        big = SimpleUploadedFile("model.tar.gz", payload)
        response = client_as(world, "member").post(
            f"/{world.private.full_name}/settings/push", {"archive": big}
        )
        assert response.status_code == 422
        assert "The archive must be smaller than 1 MB." in response.content.decode()
    elif route == "api push":
        response = Client().post(
            f"/v1/models/{world.private.full_name}/versions",
            {"archive": SimpleUploadedFile("model.tar.gz", payload)},
            HTTP_AUTHORIZATION=f"Bearer {world.cast.acme_token}",
        )
        assert "smaller than 1 MB" in assert_problem(response, 413)["detail"]
    else:
        big = SimpleUploadedFile("cover.png", payload, content_type="image/png")
        response = client_as(world, "owner").post(
            f"/{world.private.full_name}/settings",
            {"description": "d", "visibility": "private", "cover_image": big},
        )
        assert response.status_code in (200, 422)
        assert "The cover image must be smaller than 5 MB." in response.content.decode()
    limit = 5 * MB if route == "cover" else MB
    assert 0 < sum(RecordingHandler.written) <= limit  # not the 20 MB that were sent
    assert world.private.versions.count() == 1
