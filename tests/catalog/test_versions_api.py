"""Pushing versions over the API, as a CI pipeline would, and reading them back."""

from __future__ import annotations

import io
import tarfile
import zipfile

import pytest

from apps.catalog.models import Model, Version

COG_YAML = b'predict: "predict.py:Predictor"\n'
PREDICT = (
    b"from cog import BasePredictor\n\nclass Predictor(BasePredictor):\n"
    b"    def predict(self, n: int = 1) -> int:\n        return n + 1\n"
)


def targz(files: dict[str, bytes], prefix: str = "") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, content in files.items():
            info = tarfile.TarInfo(prefix + name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def zipped(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def upload(client, person_or_token, path, data: bytes, filename="model.tar.gz"):
    token = person_or_token if isinstance(person_or_token, str) else person_or_token.token
    return client.post(
        path, {"archive": _file(data, filename)}, HTTP_AUTHORIZATION=f"Bearer {token}"
    )


def _file(data: bytes, name: str):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, data, content_type="application/octet-stream")


GOOD = {"cog.yaml": COG_YAML, "predict.py": PREDICT}


def test_an_owner_pushes_a_tarball_and_gets_the_version(client, cast):
    response = upload(client, cast.alice, "/v1/models/alice/adder/versions", targz(GOOD))
    assert response.status_code == 201, response.content
    body = response.json()
    assert len(body["id"]) == 64
    assert body["cog_version"] == "0.23.1"
    assert body["openapi_schema"]["components"]["schemas"]["Input"]["properties"]["n"]
    model = Model.objects.get(name="adder")
    assert model.visibility == "private"
    got = client.get(f"/v1/models/alice/adder/versions/{body['id']}", **cast.alice.auth())
    assert got.json()["id"] == body["id"]
    listed = client.get("/v1/models/alice/adder/versions", **cast.alice.auth()).json()
    assert [v["id"] for v in listed["results"]] == [body["id"]]


def test_a_zip_of_a_folder_works_and_the_same_content_is_200(client, cast):
    first = upload(
        client,
        cast.alice,
        "/v1/models/alice/adder/versions",
        zipped({f"adder/{k}": v for k, v in GOOD.items()}),
        "model.zip",
    )
    assert first.status_code == 201, first.content
    again = upload(client, cast.alice, "/v1/models/alice/adder/versions", targz(GOOD))
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert Version.objects.count() == 1


def test_an_organization_token_and_a_member_push_to_the_organization(client, cast):
    assert (
        upload(client, cast.acme_token, "/v1/models/acme/one/versions", targz(GOOD)).status_code
        == 201
    )
    assert (
        upload(
            client, cast.bob, "/v1/models/acme/one/versions", targz({**GOOD, "extra.txt": b"x"})
        ).status_code
        == 201
    )


def test_outsiders_cannot_push_or_see(client, cast):
    upload(client, cast.alice, "/v1/models/alice/adder/versions", targz(GOOD))
    response = upload(client, cast.charlie, "/v1/models/alice/adder/versions", targz(GOOD))
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"
    response = upload(client, cast.charlie, "/v1/models/acme/new/versions", targz(GOOD))
    assert response.status_code == 404
    assert client.get("/v1/models/alice/adder/versions", **cast.charlie.auth()).status_code == 404
    assert not Model.objects.filter(name="new").exists()


def test_outsiders_cannot_push_to_a_public_model_they_can_see(client, cast):
    upload(client, cast.alice, "/v1/models/alice/adder/versions", targz(GOOD))
    Model.objects.filter(name="adder").update(visibility="public")
    response = upload(
        client, cast.charlie, "/v1/models/alice/adder/versions", targz({**GOOD, "x.txt": b"1"})
    )
    assert response.status_code == 403
    assert Version.objects.count() == 1


@pytest.mark.parametrize(
    ("archive", "message"),
    [
        (b"this is not an archive", "not a valid"),
        (targz({"predict.py": PREDICT}), "cog.yaml not found"),
        (targz({"cog.yaml": COG_YAML, "predict.py": b"import nope_nope\n"}), "could not be loaded"),
        (targz({"cog.yaml": COG_YAML, "predict.py": PREDICT}, prefix="../"), "unsafe"),
    ],
)
def test_bad_archives_get_a_422_problem(client, cast, archive, message):
    response = upload(client, cast.alice, "/v1/models/alice/adder/versions", archive)
    assert response.status_code == 422
    assert response["Content-Type"] == "application/problem+json"
    assert message in response.json()["detail"]
    assert not Version.objects.exists()


def test_a_push_without_a_token_is_401(client, cast):
    response = client.post("/v1/models/alice/adder/versions", {"archive": _file(b"", "a.tgz")})
    assert response.status_code == 401


def test_versions_of_private_models_can_be_deleted_by_the_owner(client, cast):
    version_id = upload(client, cast.alice, "/v1/models/alice/adder/versions", targz(GOOD)).json()[
        "id"
    ]
    url = f"/v1/models/alice/adder/versions/{version_id}"
    assert client.delete(url, **cast.charlie.auth()).status_code == 404
    assert client.delete(url, **cast.alice.auth()).status_code == 204
    assert not Version.objects.exists()
    assert Model.objects.get(name="adder").latest_version is None
