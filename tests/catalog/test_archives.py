"""Model archives are checked member by member before anything is written, and every archive
that cannot become a model directory is a clear 422 on both push routes, never a 500."""

from __future__ import annotations

import io
import tarfile
import time
import zipfile

import pytest

from apps.catalog.models import Version
from apps.runtime import artifacts
from tests.catalog.factories import make_model
from tests.catalog.test_versions_api import COG_YAML, PREDICT, upload, zipped


def tar(members: list[tuple[str, bytes | None]], gz=True) -> bytes:
    """A tarball of (name, content) members; content None makes a folder."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz" if gz else "w", format=tarfile.PAX_FORMAT) as t:
        for name, content in members:
            info = tarfile.TarInfo(name)
            if content is None:
                info.type = tarfile.DIRTYPE
                t.addfile(info)
            else:
                info.size = len(content)
                t.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def many_tiny_files_targz(count: int) -> bytes:
    """`count` one-byte files, with headers written from a template (tarfile takes 25 µs per
    member; this is what an attacker's script would send anyway)."""
    template = bytearray(tarfile.TarInfo("0000000").tobuf(tarfile.USTAR_FORMAT))
    template[124:136] = b"%011o\0" % 1
    template[148:156] = b" " * 8
    base = sum(template) - sum(b"0000000")
    blocks = []
    for i in range(count):
        name = b"%07d" % i
        header = bytearray(template)
        header[0:7] = name
        header[148:156] = b"%06o\0 " % (base + sum(name))
        blocks.append(bytes(header) + b"x".ljust(512, b"\0"))
    import gzip

    return gzip.compress(b"".join(blocks) + b"\0" * 1024, compresslevel=1)


def many_tiny_files_zip(count: int) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for i in range(count):
            archive.writestr(f"{i:07d}", b"x")
    return buffer.getvalue()


@pytest.mark.parametrize("make", [many_tiny_files_targz, many_tiny_files_zip])
def test_it_refuses_100000_tiny_files_in_milliseconds(tmp_path, make):
    data = make(100_000)
    started = time.perf_counter()
    with pytest.raises(artifacts.ArtifactError, match="more than 10000 files"):
        artifacts.unpack(data, tmp_path, max_bytes=10**9)
    assert time.perf_counter() - started < 0.15
    assert list(tmp_path.iterdir()) == []


def test_it_still_takes_a_tarball_just_under_the_limit(tmp_path):
    data = tar([(f"f{i}", b"x") for i in range(artifacts.MAX_FILES)], gz=False)
    artifacts.unpack(data, tmp_path, max_bytes=10**9)
    assert len(list(tmp_path.iterdir())) == artifacts.MAX_FILES


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ([("/etc/cog.yaml", COG_YAML)], "absolute paths are not allowed"),
        ([("model/../../cog.yaml", COG_YAML)], "outside the model directory"),
        ([("cog\0.yaml\u00e9", COG_YAML)], "NUL character"),  # in a pax header
        ([("x" * 300, b"1")], "longer than 255 bytes"),
        ([("/".join(["d"] * 40) + "/f", b"1")], "nested more than 32 folders"),
        ([("big", b"1" * 2000)], "unpacks to more than 1000 bytes"),
        ([("x", b"1"), ("x/y", b"2")], "'x' is both a file and a folder"),
        ([("x/y", b"2"), ("x", b"1")], "'x' is both a file and a folder"),
        ([("x", b"1"), ("./x", b"2")], "'./x' appears twice"),
    ],
)
def test_it_checks_every_name_before_writing_anything(tmp_path, members, message):
    data = tar([("cog.yaml", COG_YAML), *members])
    with pytest.raises(artifacts.ArtifactError, match=message):
        artifacts.unpack(data, tmp_path, max_bytes=1000)
    assert list(tmp_path.iterdir()) == []


def test_zip_names_are_checked_before_writing_anything(tmp_path):
    data = zipped({"cog.yaml": COG_YAML, "model/x": b"1", "model/x/y": b"2"})
    with pytest.raises(artifacts.ArtifactError, match="'model/x' is both a file and a folder"):
        artifacts.unpack(data, tmp_path, max_bytes=1000)
    assert list(tmp_path.iterdir()) == []


# Through both push routes

SHAPES = {
    # a folder whose only member has the folder's name
    "file-named-like-its-folder": (
        zipped({"model/": b"", "model/model": b"1"}),
        "cog.yaml not found",
    ),
    "folder-named-like-its-folder": (
        tar([("a/a/cog.yaml", COG_YAML), ("a/a/predict.py", PREDICT)]),
        "cog.yaml must be at the top of the archive (or inside one folder), not at a/cog.yaml",
    ),
    "three-levels": (
        zipped({"x/y/z/cog.yaml": COG_YAML, "x/y/z/predict.py": PREDICT}),
        "not at y/z/cog.yaml",
    ),
    "file-and-folder": (
        tar([("cog.yaml", COG_YAML), ("x", b"1"), ("x/predict.py", PREDICT)]),
        "'x' is both a file and a folder",
    ),
}


@pytest.mark.parametrize("shape", SHAPES)
def test_the_api_answers_a_clear_422_for_archives_that_are_no_model(client, cast, shape):
    data, message = SHAPES[shape]
    filename = "model.zip" if data[:2] == b"PK" else "model.tar.gz"
    response = upload(client, cast.alice, "/v1/models/alice/adder/versions", data, filename)
    assert response.status_code == 422, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert message in response.json()["detail"]
    assert not Version.objects.exists()


@pytest.mark.parametrize("shape", SHAPES)
def test_the_settings_page_shows_the_same_error_next_to_the_field(client_for, cast, shape):
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.utils.html import escape

    make_model(cast)
    data, message = SHAPES[shape]
    response = client_for(cast.alice).post(
        "/acme/secret-sauce/settings/push", {"archive": SimpleUploadedFile("model.bin", data)}
    )
    assert response.status_code == 422
    assert escape(message) in response.content.decode()
    assert not Version.objects.exists()


def test_one_folder_around_the_model_is_still_lifted(client, cast):
    data = tar([("model/", None), ("model/cog.yaml", COG_YAML), ("model/predict.py", PREDICT)])
    response = upload(client, cast.alice, "/v1/models/alice/adder/versions", data)
    assert response.status_code == 201, response.content
