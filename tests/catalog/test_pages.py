from __future__ import annotations

import io
import tarfile

from django.core.files.uploadedfile import SimpleUploadedFile

from apps.catalog.models import Model, Version

PREDICT = (
    b"from cog import BasePredictor\n\nclass Predictor(BasePredictor):\n"
    b"    def predict(self, n: int = 1) -> int:\n        return n + 1\n"
)


def archive(files: dict[str, bytes]) -> SimpleUploadedFile:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return SimpleUploadedFile("model.tar.gz", buffer.getvalue())


def make_model(cast, visibility="private", **fields) -> Model:
    return Model.objects.create(
        owner=cast.acme.account, name="secret-sauce", visibility=visibility, **fields
    )


def test_a_private_model_page_is_404_to_outsiders_and_anonymous(client, cast):
    make_model(cast)
    assert client.get("/acme/secret-sauce").status_code == 404
    client.force_login(cast.charlie.user)
    assert client.get("/acme/secret-sauce").status_code == 404
    client.force_login(cast.bob.user)
    assert client.get("/acme/secret-sauce").status_code == 200


def test_a_public_model_page_shows_the_readme_sanitised(client, cast):
    make_model(
        cast,
        visibility="public",
        readme="# Sauce\n\n<script>alert(1)</script>\n\n[x](javascript:alert(2))",
    )
    html = client.get("/acme/secret-sauce").content.decode()
    assert "<h1>Sauce</h1>" in html
    assert "<script>alert(1)" not in html
    assert 'href="javascript:' not in html


def test_only_members_see_and_use_the_settings(client, cast):
    make_model(cast, visibility="public")
    client.force_login(cast.charlie.user)
    assert client.get("/acme/secret-sauce/settings").status_code == 403
    assert (
        client.post("/acme/secret-sauce/settings/push", {"archive": archive({})}).status_code == 403
    )
    client.force_login(cast.bob.user)
    assert client.get("/acme/secret-sauce/settings").status_code == 200


def test_settings_save(client_for, cast):
    model = make_model(cast)
    client = client_for(cast.alice)
    response = client.post(
        "/acme/secret-sauce/settings",
        {
            "description": "Hot",
            "visibility": "public",
            "default_hardware": "",
            "github_url": "github.com/acme/sauce",
            "paper_url": "",
            "license_url": "",
            "readme": "hi",
        },
    )
    assert response.status_code == 302
    model.refresh_from_db()
    assert (model.description, model.visibility, model.github_url) == (
        "Hot",
        "public",
        "https://github.com/acme/sauce",
    )


def test_a_bad_cover_image_is_refused_next_to_the_field(client_for, cast):
    make_model(cast)
    client = client_for(cast.alice)
    response = client.post(
        "/acme/secret-sauce/settings",
        {
            "description": "",
            "visibility": "private",
            "readme": "",
            "cover_image": SimpleUploadedFile("x.html", b"<script>", content_type="text/html"),
        },
    )
    assert response.status_code == 422
    assert "Upload a PNG, JPEG, WebP or GIF image." in response.content.decode()


def test_pushing_an_archive_from_the_settings_page(client_for, cast):
    model = make_model(cast)
    client = client_for(cast.bob)
    response = client.post(
        "/acme/secret-sauce/settings/push",
        {
            "archive": archive(
                {"cog.yaml": b'predict: "predict.py:Predictor"\n', "predict.py": PREDICT}
            )
        },
    )
    assert response.status_code == 302
    version = Version.objects.get(model=model)
    assert version.created_by == cast.bob.user
    page = client.get("/acme/secret-sauce").content.decode()
    assert version.digest in page


def test_a_failed_push_shows_the_error_next_to_the_field(client_for, cast):
    make_model(cast)
    client = client_for(cast.alice)
    response = client.post(
        "/acme/secret-sauce/settings/push",
        {
            "archive": archive(
                {
                    "cog.yaml": b'predict: "predict.py:Predictor"\n',
                    "predict.py": b"raise SystemExit('boom at import')\n",
                }
            )
        },
    )
    assert response.status_code == 422
    html = response.content.decode()
    assert "could not be loaded" in html
    assert not Version.objects.exists()


def test_the_model_page_shows_the_example_prediction(client, cast):
    from apps.predictions.models import Prediction

    model = make_model(cast, visibility="public")
    version = Version.objects.create(
        model=model,
        digest="a" * 64,
        openapi_schema={},
        cog_version="0.23.1",
        predictor_ref="predict.py:Predictor",
    )
    Prediction.objects.create(
        owner=model.owner,
        model=model,
        version=version,
        is_example=True,
        status="succeeded",
        input={"prompt": "a <b>bold</b> cat"},
        output="http://testserver/media/predictions/x/out.png",
        metrics={"predict_time": 0.5},
    )
    html = client.get("/acme/secret-sauce").content.decode()
    assert "Example" in html
    assert "a &lt;b&gt;bold&lt;/b&gt; cat" in html
    assert '<img src="http://testserver/media/predictions/x/out.png"' in html
