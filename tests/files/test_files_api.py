"""The Files API: uploads, listing, signed downloads, expiry, and the official client."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from io import StringIO
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
import replicate
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.utils import timezone
from replicate.exceptions import ReplicateError

from apps.core.links import public_base
from apps.files import api as files_api
from apps.files.models import File
from apps.files.services import MAX_FILE_BYTES, file_purge_expired, local_path_for_url

TOO_LARGE = "Files must be less than 100MB in size"
FILE_KEYS = {
    "id",
    "name",
    "content_type",
    "size",
    "etag",
    "checksums",
    "metadata",
    "created_at",
    "expires_at",
    "urls",
}


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def upload(client, person, content=b"hello world", name="hello.txt", type="text/plain", **data):
    data = {"content": SimpleUploadedFile(name, content, content_type=type), **data}
    return client.post("/v1/files", data, **person.auth())


def create(client, person, **kwargs) -> dict:
    response = upload(client, person, **kwargs)
    assert response.status_code == 201, response.content
    return response.json()


def stored_files(media_root: Path) -> list[Path]:
    return [path for path in media_root.rglob("*") if path.is_file()]


def with_query(url: str, **changes) -> str:
    parts = urlsplit(url)
    query = {key: values[0] for key, values in parse_qs(parts.query).items()}
    query.update(changes)
    return parts._replace(query=urlencode(query)).geturl()


def expire(file_id: str, by: timedelta = timedelta(seconds=1)) -> None:
    File.objects.filter(pk=file_id).update(expires_at=timezone.now() - by)


# Creating


def test_it_creates_a_file(client, cast):
    response = upload(client, cast.alice, metadata=json.dumps({"customer_reference_id": 123}))
    assert response.status_code == 201
    body = response.json()
    assert set(body) == FILE_KEYS
    assert body["name"] == "hello.txt"
    assert body["content_type"] == "text/plain"
    assert body["size"] == 11
    assert body["checksums"] == {
        "sha256": hashlib.sha256(b"hello world").hexdigest(),
        "md5": hashlib.md5(b"hello world").hexdigest(),  # noqa: S324
    }
    assert body["etag"] == body["checksums"]["md5"]
    assert body["metadata"] == {"customer_reference_id": 123}
    created = datetime.fromisoformat(body["created_at"])
    assert datetime.fromisoformat(body["expires_at"]) - created == timedelta(hours=24)
    assert body["urls"]["get"].startswith(f"http://testserver/v1/files/{body['id']}/download?")
    assert File.objects.get(pk=body["id"]).owner == cast.alice.user.account


def test_it_accepts_metadata_as_a_json_part_like_the_js_client(client, cast):
    metadata = SimpleUploadedFile("blob", b'{"source": "js"}', content_type="application/json")
    body = create(
        client,
        cast.alice,
        name="blob_1700000000",
        type="application/octet-stream",
        metadata=metadata,
    )
    assert body["metadata"] == {"source": "js"}
    assert (body["name"], body["content_type"]) == ("blob_1700000000", "application/octet-stream")


def test_it_takes_the_filename_and_type_fields_over_the_part(client, cast):
    body = create(client, cast.alice, filename="report.csv", type="text/csv")
    assert (body["name"], body["content_type"]) == ("report.csv", "text/csv")
    stored = File.objects.get(pk=body["id"]).content.name
    assert stored.startswith("files/") and stored.endswith("/report.csv")


def test_it_defaults_metadata_to_an_empty_object(client, cast):
    assert create(client, cast.alice)["metadata"] == {}


def test_it_requires_the_content_part(client, cast):
    response = client.post("/v1/files", {"filename": "x.txt"}, **cast.alice.auth())
    assert response.status_code == 422
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["invalid_fields"][0]["field"] == "content"
    assert "content is required" in response.json()["detail"]


@pytest.mark.parametrize("metadata", ["{not json", "[1, 2]", '"text"', '{"x": NaN}'])
def test_it_refuses_metadata_that_is_not_a_json_object(client, cast, metadata):
    response = upload(client, cast.alice, metadata=metadata)
    assert response.status_code == 422
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["invalid_fields"][0]["field"] == "metadata"
    assert not File.objects.exists()


def test_it_refuses_a_filename_over_255_bytes(client, cast):
    response = upload(client, cast.alice, filename="é" * 128)
    assert response.status_code == 422
    assert response.json()["invalid_fields"][0]["field"] == "filename"


def test_it_refuses_a_file_over_the_limit_without_storing_it(client, cast, monkeypatch, media_root):
    monkeypatch.setattr(files_api, "MAX_FILE_BYTES", 1000)
    assert upload(client, cast.alice, content=b"x" * 1000).status_code == 201
    response = upload(client, cast.alice, content=b"x" * 1001)
    assert response.status_code == 413
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["detail"] == TOO_LARGE
    assert File.objects.count() == 1
    assert len(stored_files(media_root)) == 1


@pytest.mark.parametrize("as_part", [False, True])
def test_it_refuses_oversized_metadata(client, cast, settings, as_part):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    metadata = json.dumps({"notes": "x" * 1000})
    if as_part:
        metadata = SimpleUploadedFile("blob", metadata.encode(), content_type="application/json")
    response = upload(client, cast.alice, metadata=metadata)
    assert response.status_code == 413
    assert response["Content-Type"] == "application/problem+json"
    assert not File.objects.exists()


def test_it_needs_a_token(client, cast):
    response = client.post("/v1/files", {"content": SimpleUploadedFile("a.txt", b"a")})
    assert response.status_code == 401
    assert client.get("/v1/files").status_code == 401


# Reading, listing and deleting


def test_it_gets_a_file(client, cast):
    created = create(client, cast.alice)
    response = client.get(f"/v1/files/{created['id']}", **cast.alice.auth())
    assert response.status_code == 200
    assert response.json() == created


def test_it_hides_a_file_from_outsiders(client, cast, media_root):
    created = create(client, cast.alice)
    for method in (client.get, client.delete):
        response = method(f"/v1/files/{created['id']}", **cast.charlie.auth())
        assert response.status_code == 404
        assert response["Content-Type"] == "application/problem+json"
        assert response.json()["detail"] == "File not found"
    assert File.objects.filter(pk=created["id"]).exists()
    assert client.get("/v1/files/nosuchfile", **cast.alice.auth()).status_code == 404


def test_it_lists_only_the_callers_files_newest_first(client, cast):
    first = create(client, cast.alice, name="first.txt")
    second = create(client, cast.alice, name="second.txt")
    create(client, cast.charlie, name="charlie.txt")
    acme = client.post(
        "/v1/files",
        {"content": SimpleUploadedFile("acme.txt", b"acme")},
        HTTP_AUTHORIZATION=f"Bearer {cast.acme_token}",
    ).json()

    page = client.get("/v1/files", **cast.alice.auth()).json()
    assert [f["id"] for f in page["results"]] == [second["id"], first["id"]]
    assert page["previous"] is None and page["next"] is None
    assert page["results"][0] == second
    charlie_page = client.get("/v1/files", **cast.charlie.auth()).json()
    assert [f["name"] for f in charlie_page["results"]] == ["charlie.txt"]
    acme_page = client.get("/v1/files", HTTP_AUTHORIZATION=f"Bearer {cast.acme_token}").json()
    assert [f["id"] for f in acme_page["results"]] == [acme["id"]]


def test_it_deletes_a_file_and_its_bytes(
    client, cast, media_root, django_capture_on_commit_callbacks
):
    created = create(client, cast.alice)
    assert len(stored_files(media_root)) == 1
    with django_capture_on_commit_callbacks(execute=True):
        response = client.delete(f"/v1/files/{created['id']}", **cast.alice.auth())
    assert response.status_code == 204
    assert client.get(f"/v1/files/{created['id']}", **cast.alice.auth()).status_code == 404
    assert client.get(created["urls"]["get"]).status_code == 404
    assert stored_files(media_root) == []


# Downloading


def test_the_download_url_works_without_a_token_and_tolerates_one(client, cast):
    created = create(client, cast.alice, content=b"\x89PNG...", name="cat.png", type="image/png")
    for headers in ({}, cast.charlie.auth(), {"HTTP_AUTHORIZATION": "Bearer r8_wrong"}):
        response = client.get(created["urls"]["get"], **headers)
        assert response.status_code == 200
        assert b"".join(response.streaming_content) == b"\x89PNG..."
        assert response["Content-Type"] == "image/png"
        assert response["Content-Length"] == "7"
        assert response["Content-Disposition"] == 'inline; filename="cat.png"'
        assert response["ETag"] == f'"{created["etag"]}"'


@pytest.mark.parametrize(
    "content_type", ["text/html", "image/svg+xml", "application/javascript", "text/xml"]
)
def test_content_that_could_run_in_a_browser_downloads_as_an_attachment(client, cast, content_type):
    created = create(client, cast.alice, content=b"<script>alert(1)</script>", type=content_type)
    response = client.get(created["urls"]["get"])
    assert response.status_code == 200
    assert response["Content-Type"] == content_type
    assert response["Content-Disposition"].startswith("attachment")
    assert response["Content-Security-Policy"] == "sandbox"
    assert response["X-Content-Type-Options"] == "nosniff"


def test_a_tampered_download_url_finds_nothing(client, cast):
    created = create(client, cast.alice)
    other = create(client, cast.charlie)
    url = created["urls"]["get"]
    signature = parse_qs(urlsplit(url).query)["signature"][0]
    tampered = [
        with_query(url, signature=signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")),
        with_query(url, owner="charlie"),
        with_query(url, expiry=str(int(parse_qs(urlsplit(url).query)["expiry"][0]) + 3600)),
        with_query(url, expiry="soon"),
        url.replace(created["id"], other["id"]),
        url.split("?")[0],
    ]
    for bad in tampered:
        response = client.get(bad)
        assert response.status_code == 404, bad
        assert response["Content-Type"] == "application/problem+json"


def test_an_expired_file_is_gone(client, cast):
    created = create(client, cast.alice)
    expire(created["id"])
    assert client.get(created["urls"]["get"]).status_code == 410
    assert client.get(f"/v1/files/{created['id']}", **cast.alice.auth()).status_code == 404
    assert client.get("/v1/files", **cast.alice.auth()).json()["results"] == []
    assert client.delete(f"/v1/files/{created['id']}", **cast.alice.auth()).status_code == 404


def test_the_purge_deletes_expired_files_and_their_bytes(
    client, cast, media_root, django_capture_on_commit_callbacks
):
    old = create(client, cast.alice, name="old.txt")
    fresh = create(client, cast.alice, name="fresh.txt")
    expire(old["id"])
    out = StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("purge_expired_files", stdout=out)
    assert out.getvalue().strip() == "Purged 1 expired file."
    assert list(File.objects.values_list("id", flat=True)) == [fresh["id"]]
    assert [path.name for path in stored_files(media_root)] == ["fresh.txt"]
    assert file_purge_expired(now=timezone.now() + timedelta(hours=25)) == 1
    assert not File.objects.exists()


# Local paths for workers


def test_local_path_for_url_finds_the_stored_file(client, cast):
    created = create(client, cast.alice, content=b"pixels", name="cat.png", type="image/png")
    url = created["urls"]["get"]
    path = local_path_for_url(url)
    assert path is not None and path.read_bytes() == b"pixels"
    assert path.name == "cat.png"  # models see the original extension
    relative = url.removeprefix("http://testserver")
    assert local_path_for_url(public_base() + relative) == path
    assert local_path_for_url(relative) == path


def test_local_path_for_url_refuses_what_the_download_refuses(
    client, cast, django_capture_on_commit_callbacks
):
    tampered = create(client, cast.alice)["urls"]["get"]
    expired = create(client, cast.alice)
    deleted = create(client, cast.alice)
    expire(expired["id"])
    with django_capture_on_commit_callbacks(execute=True):
        client.delete(f"/v1/files/{deleted['id']}", **cast.alice.auth())
    assert local_path_for_url(with_query(tampered, owner="charlie")) is None
    assert local_path_for_url(with_query(tampered, signature="x")) is None
    assert local_path_for_url(expired["urls"]["get"]) is None
    assert local_path_for_url(deleted["urls"]["get"]) is None
    assert local_path_for_url("http://testserver/media/files/anything") is None
    assert local_path_for_url("ftp://testserver" + urlsplit(tampered).path) is None
    assert local_path_for_url("not a url") is None


# The official Python client against a live server


@pytest.fixture
def sparse_file(tmp_path) -> Path:
    """A file one byte over the limit that takes no disk space and no time to write."""
    path = tmp_path / "huge.bin"
    with open(path, "wb") as handle:
        handle.truncate(MAX_FILE_BYTES + 1)
    return path


def test_the_official_client_creates_reads_lists_and_deletes_files(live_server, cast, tmp_path):
    alice = replicate.Client(api_token=cast.alice.token, base_url=live_server.url)
    charlie = replicate.Client(api_token=cast.charlie.token, base_url=live_server.url)
    source = tmp_path / "photo.jpg"
    source.write_bytes(b"\xff\xd8 not really a jpeg")

    created = alice.files.create(source, metadata={"purpose": "test"})
    assert created.name == "photo.jpg"
    assert created.content_type == "image/jpeg"
    assert created.size == source.stat().st_size
    assert created.checksums["sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()
    assert created.metadata == {"purpose": "test"}
    assert created.urls["get"].startswith(f"{live_server.url}/v1/files/{created.id}/download?")

    assert alice.files.get(created.id).checksums == created.checksums
    assert [f.id for f in alice.files.list()] == [created.id]
    assert charlie.files.list() == []
    with pytest.raises(ReplicateError) as raised:
        charlie.files.get(created.id)
    assert raised.value.status == 404
    with pytest.raises(ReplicateError):
        charlie.files.delete(created.id)

    download = httpx.get(created.urls["get"])
    assert download.status_code == 200
    assert download.content == source.read_bytes()

    assert alice.files.delete(created.id) is True
    with pytest.raises(ReplicateError) as raised:
        alice.files.get(created.id)
    assert raised.value.status == 404
    assert httpx.get(created.urls["get"]).status_code == 404


def test_the_official_client_gets_413_for_a_file_over_100_mb(live_server, cast, sparse_file):
    alice = replicate.Client(api_token=cast.alice.token, base_url=live_server.url)
    with pytest.raises(ReplicateError) as raised:
        alice.files.create(sparse_file)
    assert raised.value.status == 413
    assert raised.value.detail == TOO_LARGE
    assert not File.objects.exists()
