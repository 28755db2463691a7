from __future__ import annotations

import io
import tarfile
from html.parser import HTMLParser

from django.core.files.uploadedfile import SimpleUploadedFile

from apps.catalog.models import Model, Version
from tests.catalog.factories import (
    STREAMING_OUTPUT,
    add_prediction,
    add_version,
    make_model,
    schema_with_output,
)

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
    html = client.get("/acme/secret-sauce/readme").content.decode()
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
    page = client.get("/acme/secret-sauce/versions").content.decode()
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
    html = client.get("/acme/secret-sauce/examples").content.decode()
    assert "Example" in html
    assert "a &lt;b&gt;bold&lt;/b&gt; cat" in html
    assert '<img src="http://testserver/media/predictions/x/out.png"' in html


# --- The tabs ------------------------------------------------------------------------------

TABS = ["", "/api", "/api/node", "/api/http", "/examples", "/readme", "/versions"]


def test_every_tab_of_a_private_model_is_404_to_outsiders_and_anonymous(client, cast):
    model = make_model(cast)
    version = add_version(model)
    pages = [
        *TABS,
        "/settings",
        f"/versions/{version.digest}",
        f"?version={version.digest}",
    ]
    for page in pages:
        url = "/acme/secret-sauce" + page
        assert client.get(url).status_code == 404, url
        assert client.get(url, HTTP_HX_REQUEST="true").status_code == 404, url
    client.force_login(cast.charlie.user)
    for page in pages:
        response = client.get("/acme/secret-sauce" + page)
        assert response.status_code == 404, page
        # The friendly page, not a hint that the model exists.
        assert "Not found" in response.content.decode()
        assert "secret-sauce" not in response.content.decode()
    client.force_login(cast.bob.user)
    for page in pages:
        assert client.get("/acme/secret-sauce" + page).status_code == 200, page


def test_each_tab_has_its_own_url_and_marks_itself_current(client, sauce):
    for page, label in zip(
        ["", "/api", "/examples", "/readme", "/versions"],
        ["Playground", "API", "Examples", "README", "Versions"],
        strict=True,
    ):
        html = client.get("/acme/secret-sauce" + page).content.decode()
        url = "/acme/secret-sauce" + page
        assert f'<a href="{url}" hx-get="{url}" aria-current="page">{label}</a>' in html
    # Only members see the Settings tab.
    assert "/acme/secret-sauce/settings" not in html


def test_members_get_the_settings_tab(client_for, cast, sauce):
    client = client_for(cast.bob)
    html = client.get("/acme/secret-sauce").content.decode()
    assert 'href="/acme/secret-sauce/settings"' in html
    html = client.get("/acme/secret-sauce/settings").content.decode()
    assert 'aria-current="page">Settings</a>' in html
    assert "Push a new version" in html


def test_an_htmx_tab_switch_gets_just_the_tab(client, sauce):
    response = client.get("/acme/secret-sauce/readme", HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert html.startswith("<title>README · acme/secret-sauce · selfrep</title>")
    assert '<div id="model-tab"' in html
    assert "<h1>Sauce</h1>" in html
    assert "<html" not in html and "model-head" not in html
    assert "HX-Request" in response["Vary"]
    # The tab links swap the tab and keep plain links for browsers without JavaScript.
    assert 'hx-target="#model-tab"' in html


def test_an_htmx_history_restore_gets_the_whole_page(client, sauce):
    response = client.get(
        "/acme/secret-sauce/readme", HTTP_HX_REQUEST="true", HTTP_HX_HISTORY_RESTORE_REQUEST="true"
    )
    assert response.content.decode().lstrip().startswith("<!doctype html>")


def active_content(html: str) -> list[str]:
    """Script elements, event handler attributes and javascript: links in `html`."""
    found = []

    class Finder(HTMLParser):
        def handle_starttag(self, tag, attrs):
            if tag == "script" and not dict(attrs).get("src", "").startswith("/static/"):
                found.append(tag)
            for name, value in attrs:
                if name.startswith("on") or (value or "").strip().lower().startswith("javascript:"):
                    found.append(f"{tag} {name}={value}")

    Finder().feed(html)
    return found


def test_the_readme_tab_renders_script_inert(client, cast):
    make_model(
        cast,
        visibility="public",
        readme='# Hi\n\n<img src=x onerror="alert(1)">\n\n<script>alert(2)</script>\n\n'
        '[a](javascript:alert(3)) <a href="javascript:alert(4)">b</a> ![i](javascript:alert(5))',
    )
    html = client.get("/acme/secret-sauce/readme").content.decode()
    assert "<h1>Hi</h1>" in html
    assert active_content(html) == []
    partial = client.get("/acme/secret-sauce/readme", HTTP_HX_REQUEST="true").content.decode()
    assert active_content(partial) == []


def test_a_model_without_versions_says_how_to_push_one(client_for, cast):
    make_model(cast)
    html = client_for(cast.bob).get("/acme/secret-sauce").content.decode()
    assert "This model has no versions yet." in html
    assert "manage.py push acme/secret-sauce" in html
    html = client_for(cast.bob).get("/acme/secret-sauce/api").content.decode()
    assert "This model has no versions yet." in html


# --- Examples and versions -----------------------------------------------------------------


def test_the_examples_tab_links_each_example(client, cast, sauce):
    version = sauce.latest_version
    example = add_prediction(
        sauce, version, sauce.owner, is_example=True, output="http://testserver/media/a.png"
    )
    add_prediction(sauce, version, sauce.owner, output="not an example")
    html = client.get("/acme/secret-sauce/examples").content.decode()
    assert f'href="/p/{example.id}"' in html
    assert f'href="/acme/secret-sauce?prediction={example.id}"' in html
    assert '<img src="http://testserver/media/a.png"' in html
    assert "not an example" not in html


def test_the_examples_tab_joins_streamed_text(client, cast):
    model = make_model(cast, visibility="public")
    version = add_version(model, schema=schema_with_output(STREAMING_OUTPUT))
    add_prediction(model, version, model.owner, is_example=True, output=["Hel", "lo ", "you"])
    html = client.get("/acme/secret-sauce/examples").content.decode()
    assert "Hello you" in html


def test_the_versions_tab_and_a_version_page(client, cast, sauce):
    add_version(sauce, digest="e" * 64)
    html = client.get("/acme/secret-sauce/versions").content.decode()
    assert f'href="/acme/secret-sauce/versions/{"d" * 64}"' in html
    assert f'href="/acme/secret-sauce/versions/{"e" * 64}"' in html
    assert "Input schema" in html and "Output schema" in html
    html = client.get(f"/acme/secret-sauce/versions/{'d' * 64}").content.decode()
    assert "d" * 64 in html
    assert "<code>prompt</code>" in html and "What to say" in html
    assert "one of a, b" in html  # the enum behind Cog's allOf/$ref
    assert f'href="/acme/secret-sauce?version={"d" * 64}"' in html
    assert f'href="/acme/secret-sauce/api?version={"d" * 64}"' in html
    assert "Build log" not in html  # for members only
    assert client.get(f"/acme/secret-sauce/versions/{'f' * 64}").status_code == 404


def test_a_version_of_another_model_is_404(client, cast, sauce):
    other = Model.objects.create(owner=cast.charlie.user.account, name="other")
    add_version(other, digest="9" * 64)
    assert client.get(f"/acme/secret-sauce/versions/{'9' * 64}").status_code == 404
    assert client.get(f"/acme/secret-sauce?version={'9' * 64}").status_code == 404


def test_the_model_page_queries_are_bounded(client_for, cast, sauce, django_assert_max_num_queries):
    version = sauce.latest_version
    for _ in range(5):
        add_prediction(sauce, version, sauce.owner, is_example=True)
        add_version(sauce, digest=f"{_}" * 64)
    client = client_for(cast.bob)
    for page in [*TABS, "/settings", f"/versions/{'d' * 64}"]:
        with django_assert_max_num_queries(10):
            assert client.get("/acme/secret-sauce" + page).status_code == 200


def test_the_playground_tab_names_the_version(client, sauce):
    html = client.get("/acme/secret-sauce").content.decode()
    assert f'href="/acme/secret-sauce/versions/{"d" * 64}"' in html
    assert "latest" in html


def test_the_playground_tab_shows_the_form_for_the_version(client, sauce):
    html = client.get("/acme/secret-sauce").content.decode()
    assert 'id="playground-form"' in html
    assert f'action="/acme/secret-sauce/predictions?version={"d" * 64}"' in html
    # Every tab loads the playground's assets, since a tab switch can swap the form in.
    assert "css/predictions.css" in client.get("/acme/secret-sauce/readme").content.decode()


def test_the_playground_is_filled_in_from_a_prediction(client_for, cast, sauce):
    old = add_version(sauce, digest="e" * 64)
    sauce.latest_version = Version.objects.get(digest="d" * 64)
    sauce.save()
    prediction = add_prediction(
        sauce, old, cast.bob.user.account, input={"prompt": "a purple <cow>", "steps": 7}
    )
    html = client_for(cast.bob).get(f"/acme/secret-sauce?prediction={prediction.id}").content
    html = html.decode()
    assert "a purple &lt;cow&gt;" in html
    assert 'value="7"' in html
    # The prediction's own version runs, not the latest.
    assert f'action="/acme/secret-sauce/predictions?version={"e" * 64}"' in html
    assert f'href="/acme/secret-sauce/api?prediction={prediction.id}"' in html
