"""The models, search, collections and hardware API, with the test client and with the official
`replicate` Python client against a live server; every body is checked against the contract."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
import replicate
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from replicate.exceptions import ReplicateError

from apps.billing.models import Hardware
from apps.catalog.models import Collection, Model, Version
from apps.predictions.models import Prediction
from tests.openapi import assert_matches_contract, assert_problem, assert_response_matches

SCHEMA = {
    "openapi": "3.0.2",
    "info": {"title": "Cog", "version": "0.1.0"},
    "paths": {},
    "components": {
        "schemas": {
            "Input": {
                "type": "object",
                "title": "Input",
                "properties": {"n": {"type": "integer", "title": "N", "x-order": 0}},
            },
            "Output": {"type": "integer", "title": "Output"},
        }
    },
}
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def make_model(owner, name, *, visibility="public", versions=1, **fields) -> Model:
    model = Model.objects.create(owner=owner, name=name, visibility=visibility, **fields)
    for number in range(versions):
        Version.objects.create(
            model=model,
            digest=f"{number:x}{name}".ljust(64, "a")[:64],
            openapi_schema=SCHEMA,
            cog_version="0.23.1",
            predictor_ref="predict.py:Predictor",
        )
    model.refresh_latest_version()
    return model


def make_example(model: Model, output=2, **fields) -> Prediction:
    now = timezone.now()
    return Prediction.objects.create(
        owner=model.owner,
        model=model,
        version=model.latest_version,
        status=fields.pop("status", Prediction.Status.SUCCEEDED),
        input={"n": 1},
        output=output,
        started_at=now,
        completed_at=now,
        is_example=True,
        **fields,
    )


@pytest.fixture
def catalog(cast):
    """alice/adder (public, with an example), alice/secret and acme/internal (private),
    bob/draft (public, no version yet), all but draft in the `math` collection."""
    alice, acme = cast.alice.user.account, cast.acme.account
    adder = make_model(
        alice, "adder", description="Adds one to a number", readme="# Adder\n\nAdds one."
    )
    make_example(adder)
    secret = make_model(alice, "secret", visibility="private", description="Hush")
    internal = make_model(acme, "internal", visibility="private", description="Acme only")
    make_model(cast.bob.user.account, "draft", versions=0, description="Work in progress")
    math = Collection.objects.create(
        slug="math", name="Math", description="Numbers", full_description="## Sums"
    )
    math.models.add(adder, secret, internal)
    return cast


def get(client, person, path, **extra):
    return client.get(path, **person.auth(), **extra)


def search_query(client, auth, text):
    return client.generic("QUERY", "/v1/models", text, content_type="text/plain", **auth)


def names(body) -> list[str]:
    return [f"{model['owner']}/{model['name']}" for model in body["results"]]


# Reading models


def test_it_returns_a_model_with_its_latest_version_and_example(client, catalog):
    response = get(client, catalog.charlie, "/v1/models/alice/adder")
    assert response.status_code == 200
    assert_response_matches(response, "GET", "/models/{owner}/{name}")
    body = response.json()
    model = Model.objects.get(name="adder")
    assert body["url"] == "http://testserver/alice/adder"
    assert (body["owner"], body["name"], body["visibility"]) == ("alice", "adder", "public")
    assert body["description"] == "Adds one to a number"
    assert body["github_url"] is None and body["is_official"] is False
    assert body["latest_version"]["id"] == model.latest_version.digest
    assert body["latest_version"]["openapi_schema"] == SCHEMA
    example = body["default_example"]
    assert example["model"] == "alice/adder" and example["output"] == 2
    assert_matches_contract("GET", "/predictions/{prediction_id}", 200, example)


def test_names_are_case_insensitive(client, catalog):
    assert get(client, catalog.alice, "/v1/models/Alice/ADDER").json()["name"] == "adder"


def test_a_model_without_versions_has_no_latest_version(client, catalog):
    body = get(client, catalog.alice, "/v1/models/bob/draft").json()
    assert body["latest_version"] is None and body["default_example"] is None


def test_owners_and_members_see_private_models(client, catalog):
    assert get(client, catalog.alice, "/v1/models/alice/secret").status_code == 200
    assert get(client, catalog.bob, "/v1/models/acme/internal").status_code == 200
    acme = {"HTTP_AUTHORIZATION": f"Bearer {catalog.acme_token}"}
    assert client.get("/v1/models/acme/internal", **acme).status_code == 200
    assert_problem(client.get("/v1/models/alice/secret", **acme), 404)
    assert_problem(get(client, catalog.bob, "/v1/models/alice/secret"), 404)


@pytest.mark.parametrize(
    "path",
    [
        "/v1/models/alice/secret",
        "/v1/models/acme/internal",
        "/v1/models/alice/secret/readme",
        "/v1/models/alice/secret/examples",
        "/v1/models/alice/secret/versions",
        "/v1/models/alice/nothing-here",
    ],
)
def test_outsiders_get_404_for_private_models(client, catalog, path):
    assert_problem(get(client, catalog.charlie, path), 404)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/v1/models"),
        ("post", "/v1/models"),
        ("get", "/v1/models/alice/adder"),
        ("patch", "/v1/models/alice/adder"),
        ("delete", "/v1/models/alice/adder"),
        ("get", "/v1/models/alice/adder/readme"),
        ("get", "/v1/models/alice/adder/examples"),
        ("get", "/v1/collections"),
        ("get", "/v1/collections/math"),
        ("get", "/v1/hardware"),
        ("get", "/v1/search?query=adder"),
    ],
)
def test_anonymous_requests_get_401(client, catalog, method, path):
    body = assert_problem(getattr(client, method)(path), 401)
    assert body["detail"] == "You did not pass an authentication token"


def test_anonymous_search_gets_401(client, catalog):
    assert_problem(search_query(client, {}, "adder"), 401)


# Listing


def test_the_list_has_what_the_caller_may_see_newest_first(client, catalog):
    response = get(client, catalog.alice, "/v1/models")
    assert_response_matches(response, "GET", "/models")
    everything = ["bob/draft", "acme/internal", "alice/secret", "alice/adder"]
    assert names(response.json()) == everything
    acme = client.get("/v1/models", HTTP_AUTHORIZATION=f"Bearer {catalog.acme_token}").json()
    assert names(acme) == ["bob/draft", "acme/internal", "alice/adder"]
    bob = get(client, catalog.bob, "/v1/models").json()
    assert names(bob) == ["bob/draft", "acme/internal", "alice/adder"]
    charlie = get(client, catalog.charlie, "/v1/models").json()
    assert names(charlie) == ["bob/draft", "alice/adder"]


def test_the_list_pages_with_absolute_cursor_links(client, cast, settings):
    settings.API_PAGE_SIZE = 2
    now = timezone.now()
    for i in range(5):
        Model.objects.create(
            owner=cast.charlie.user.account, name=f"m{i}", created_at=now - timedelta(minutes=i)
        )
    first = get(client, cast.charlie, "/v1/models").json()
    assert names(first) == ["charlie/m0", "charlie/m1"] and first["previous"] is None
    assert first["next"].startswith("http://testserver/v1/models?cursor=")
    second = get(client, cast.charlie, first["next"]).json()
    assert names(second) == ["charlie/m2", "charlie/m3"]
    third = get(client, cast.charlie, second["next"]).json()
    assert names(third) == ["charlie/m4"] and third["next"] is None
    assert get(client, cast.charlie, third["previous"]).json() == second


def test_the_list_takes_the_same_number_of_queries_for_more_models(client, catalog):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert get(client, catalog.charlie, "/v1/models").status_code == 200
        return len(captured)

    queries()  # the token's last use is written on the first request
    before = queries()
    for i in range(5):
        make_example(make_model(catalog.charlie.user.account, f"extra{i}"))
    assert queries() == before


# Search


def test_query_searches_name_owner_and_description(client, catalog):
    auth = catalog.alice.auth()
    response = search_query(client, auth, "adder")
    assert response.status_code == 200
    assert_response_matches(response, "QUERY", "/models")
    assert names(response.json()) == ["alice/adder"]
    assert names(search_query(client, auth, "number").json()) == ["alice/adder"]
    by_owner = names(search_query(client, auth, "ALICE").json())
    assert sorted(by_owner) == ["alice/adder", "alice/secret"]
    assert names(search_query(client, auth, "alice/add").json()) == ["alice/adder"]
    assert names(search_query(client, auth, "adds banana").json()) == []


def test_search_ranks_name_matches_first(client, catalog):
    make_model(catalog.charlie.user.account, "helper", description="Calls the adder for you")
    body = search_query(client, catalog.charlie.auth(), "adder").json()
    assert names(body) == ["alice/adder", "charlie/helper"]


def test_search_hides_private_models_and_others_models_without_versions(client, catalog):
    assert names(search_query(client, catalog.alice.auth(), "hush").json()) == ["alice/secret"]
    assert names(search_query(client, catalog.charlie.auth(), "hush").json()) == []
    assert names(search_query(client, catalog.charlie.auth(), "acme").json()) == []
    assert names(search_query(client, catalog.charlie.auth(), "work").json()) == []
    assert names(search_query(client, catalog.alice.auth(), "work").json()) == []
    assert names(search_query(client, catalog.bob.auth(), "work").json()) == ["bob/draft"]
    assert names(search_query(client, catalog.bob.auth(), "acme").json()) == ["acme/internal"]


def test_search_without_text_is_a_400(client, catalog):
    assert_problem(search_query(client, catalog.alice.auth(), "  "), 400)
    response = client.generic(
        "QUERY", "/v1/models", b"\xff\xfe", content_type="text/plain", **catalog.alice.auth()
    )
    assert_problem(response, 400)


def test_the_search_endpoint_returns_models_and_collections(client, catalog):
    response = get(client, catalog.charlie, "/v1/search?query=adder")
    assert response.status_code == 200
    assert_response_matches(response, "GET", "/search")
    body = response.json()
    assert body["query"] == "adder" and body["pages"] == []
    [found] = body["models"]
    assert found["model"]["name"] == "adder"
    assert found["metadata"]["tags"] == ["math"] and found["metadata"]["score"] > 0
    assert body["collections"] == []
    math = get(client, catalog.charlie, "/v1/search?query=math").json()["collections"]
    assert math == [
        {"name": "Math", "slug": "math", "description": "Numbers", "models": ["alice/adder"]}
    ]
    bob = get(client, catalog.bob, "/v1/search?query=numbers").json()["collections"]
    assert sorted(bob[0]["models"]) == ["acme/internal", "alice/adder"]


def test_the_search_endpoint_limits_models(client, catalog):
    for i in range(3):
        make_model(catalog.charlie.user.account, f"adder-{i}")
    body = get(client, catalog.charlie, "/v1/search?query=adder&limit=2").json()
    assert len(body["models"]) == 2


@pytest.mark.parametrize(
    "query",
    ["", "?query=", "?query=%20", "?query=x&limit=0", "?query=x&limit=51", "?query=x&limit=ten"],
)
def test_the_search_endpoint_refuses_a_bad_query(client, catalog, query):
    response = get(client, catalog.alice, f"/v1/search{query}")
    body = assert_problem(response, 400)
    assert_response_matches(response, "GET", "/search")
    if "limit" not in query:
        assert body["detail"] == 'Query parameter "query" is required'


# Creating


def create(client, person_or_token, **body):
    token = person_or_token if isinstance(person_or_token, str) else person_or_token.token
    return client.post(
        "/v1/models",
        {"owner": "alice", "name": "new", "visibility": "private", "hardware": "cpu", **body},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )


def test_it_creates_a_model(client, cast):
    response = create(
        client,
        cast.alice,
        name="hot-dog",
        description="Detects hot dogs",
        github_url="https://github.com/alice/hot-dog",
        paper_url=None,
        cover_image_url=None,
    )
    assert response.status_code == 201, response.content
    assert_response_matches(response, "POST", "/models")
    body = response.json()
    assert body["url"] == "http://testserver/alice/hot-dog"
    assert body["visibility"] == "private" and body["run_count"] == 0
    assert body["latest_version"] is None and body["default_example"] is None
    assert body["github_url"] == "https://github.com/alice/hot-dog"
    assert body["paper_url"] is None
    model = Model.objects.get(name="hot-dog")
    assert model.owner == cast.alice.user.account
    assert model.default_hardware.sku == "cpu"
    assert get(client, cast.alice, "/v1/models/alice/hot-dog").json() == body


def test_members_and_organization_tokens_create_for_the_organization(client, cast):
    assert create(client, cast.bob, owner="acme", name="one").status_code == 201
    assert create(client, cast.acme_token, owner="acme", name="two").status_code == 201
    assert Model.objects.filter(owner__name="acme").count() == 2


def test_nobody_creates_models_for_others(client, cast):
    assert_problem(create(client, cast.charlie, owner="acme"), 403)
    assert_problem(create(client, cast.charlie, owner="alice"), 403)
    assert_problem(create(client, cast.acme_token, owner="alice"), 403)
    assert_problem(create(client, cast.alice, owner="nobody"), 404)
    assert not Model.objects.exists()


def test_a_taken_name_is_a_409(client, cast):
    assert create(client, cast.alice).status_code == 201
    body = assert_problem(create(client, cast.alice, name="new"), 409)
    assert "alice/new" in body["detail"]
    assert Model.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "field", "kind"),
    [
        ({"name": "Bad Name!"}, "name", "invalid"),
        ({"name": ""}, "name", "blank"),
        ({"github_url": "not a url"}, "github_url", "invalid"),
        ({"description": "x" * 501}, "description", "max_length"),
        ({"hardware": "gpu-h100-8x"}, "hardware", "enum"),
        ({"hardware": "quantum"}, "hardware", "enum"),
    ],
)
def test_invalid_fields_are_a_422(client, cast, body, field, kind):
    problem = assert_problem(create(client, cast.alice, **body), 422)
    assert problem["title"] == "Input validation failed"
    assert [(f["field"], f["type"]) for f in problem["invalid_fields"]] == [(field, kind)]
    assert problem["detail"].startswith(f"- {field}: ")
    assert not Model.objects.exists()


@pytest.mark.parametrize(
    "body", [{"visibility": "secret"}, {"color": "red"}, {"owner": None}, {"name": 7}]
)
def test_bad_bodies_are_a_422(client, cast, body):
    assert_problem(create(client, cast.alice, **body), 422)
    assert not Model.objects.exists()


def test_a_body_that_is_not_json_is_a_4xx_problem(client, cast):
    response = client.post(
        "/v1/models", "{oops", content_type="application/json", **cast.alice.auth()
    )
    assert response.status_code in (400, 422)
    assert response["Content-Type"] == "application/problem+json"


def test_a_cover_image_url_is_fetched_and_stored(client, cast, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    data_uri = "data:image/png;base64," + base64.b64encode(PNG).decode()
    response = create(client, cast.alice, cover_image_url=data_uri)
    assert response.status_code == 201, response.content
    url = response.json()["cover_image_url"]
    assert url.startswith("http://testserver/media/covers/") and url.endswith(".png")
    assert client.get(url.removeprefix("http://testserver")).getvalue() == PNG


def test_a_cover_may_be_one_of_our_media_files_but_not_a_version_archive(
    client, cast, settings, tmp_path
):
    settings.MEDIA_ROOT, settings.PUBLIC_URL = tmp_path, "https://models.example"
    for folder in ("uploads", "versions"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "picture.png").write_bytes(PNG)
    base = "https://models.example/media"
    refused = create(client, cast.alice, cover_image_url=f"{base}/versions/picture.png")
    assert "does not resolve" in assert_problem(refused, 422)["detail"]
    response = create(client, cast.alice, cover_image_url=f"{base}/uploads/picture.png")
    assert response.status_code == 201, response.content
    assert response.json()["cover_image_url"].startswith("https://models.example/media/covers/")


@pytest.mark.parametrize(
    "url",
    ["data:text/plain;base64,aGVsbG8=", "http://127.0.0.1:9/cover.png", "ftp://example.com/x"],
)
def test_a_cover_that_is_not_a_reachable_image_is_a_422(client, cast, url):
    problem = assert_problem(create(client, cast.alice, cover_image_url=url), 422)
    assert problem["invalid_fields"][0]["field"] == "cover_image_url"
    assert not Model.objects.exists()


# Updating and deleting


def patch(client, person, path, body):
    return client.patch(path, body, content_type="application/json", **person.auth())


def test_owners_update_the_metadata(client, catalog):
    response = patch(
        client,
        catalog.alice,
        "/v1/models/alice/adder",
        {
            "description": "Adds one",
            "readme": "# New",
            "weights_url": "https://huggingface.co/alice/adder",
            "paper_url": "https://arxiv.org/abs/2504.17639",
        },
    )
    assert response.status_code == 200, response.content
    assert_response_matches(response, "PATCH", "/models/{owner}/{name}")
    body = response.json()
    assert body["description"] == "Adds one" and body["weights_url"].endswith("/alice/adder")
    assert get(client, catalog.alice, "/v1/models/alice/adder/readme").content == b"# New"
    cleared = patch(client, catalog.alice, "/v1/models/alice/adder", {"paper_url": None})
    assert cleared.json()["paper_url"] is None
    assert cleared.json()["description"] == "Adds one"


def test_members_update_organization_models(client, catalog):
    response = patch(client, catalog.bob, "/v1/models/acme/internal", {"description": "Ours"})
    assert response.json()["description"] == "Ours"


def test_outsiders_cannot_update(client, catalog):
    assert_problem(patch(client, catalog.charlie, "/v1/models/alice/adder", {"readme": "x"}), 403)
    assert_problem(patch(client, catalog.charlie, "/v1/models/alice/secret", {"readme": "x"}), 404)
    assert Model.objects.get(name="adder").readme.startswith("# Adder")


@pytest.mark.parametrize(
    "body",
    [{"visibility": "private"}, {"name": "renamed"}, {"github_url": "nope"}, {"readme": 5}],
)
def test_updates_outside_the_contract_are_a_422(client, catalog, body):
    response = patch(client, catalog.alice, "/v1/models/alice/adder", body)
    assert_problem(response, 422)
    model = Model.objects.get(name="adder")
    assert (model.visibility, model.github_url) == ("public", "")


def test_only_private_models_without_versions_can_be_deleted(client, catalog):
    auth = catalog.alice.auth()
    assert_problem(client.delete("/v1/models/alice/adder", **auth), 409)
    assert_problem(client.delete("/v1/models/alice/secret", **auth), 409)
    make_model(catalog.alice.user.account, "empty", visibility="private", versions=0)
    assert_problem(client.delete("/v1/models/alice/empty", **catalog.charlie.auth()), 404)
    response = client.delete("/v1/models/alice/empty", **auth)
    assert response.status_code == 204
    assert_response_matches(response, "DELETE", "/models/{owner}/{name}")
    assert not Model.objects.filter(name="empty").exists()
    assert_problem(client.delete("/v1/models/alice/empty", **auth), 404)


def test_outsiders_cannot_delete_public_models(client, catalog):
    assert_problem(client.delete("/v1/models/alice/adder", **catalog.charlie.auth()), 403)
    assert Model.objects.filter(name="adder").exists()


# README and examples


def test_the_readme_is_markdown_as_text(client, catalog):
    response = get(client, catalog.charlie, "/v1/models/alice/adder/readme")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response.content.decode() == "# Adder\n\nAdds one."
    assert_response_matches(response, "GET", "/models/{owner}/{name}/readme")
    assert_problem(get(client, catalog.alice, "/v1/models/alice/secret/readme"), 404)


def test_examples_are_listed_newest_first(client, catalog):
    adder = Model.objects.get(name="adder")
    newer = make_example(adder, output=5)
    Prediction.objects.create(
        owner=adder.owner, model=adder, version=adder.latest_version, status="succeeded"
    )
    response = get(client, catalog.charlie, "/v1/models/alice/adder/examples")
    assert_response_matches(response, "GET", "/models/{owner}/{name}/examples")
    results = response.json()["results"]
    assert [p["output"] for p in results] == [5, 2]
    assert results[0]["id"] == newer.id
    assert results[0]["urls"]["get"] == f"http://testserver/v1/predictions/{newer.id}"
    assert get(client, catalog.alice, "/v1/models/alice/secret/examples").json()["results"] == []


# Collections and hardware


def test_collections_are_listed_in_their_curated_order(client, catalog):
    Collection.objects.create(slug="aardvarks", name="Aardvarks", description="", position=9)
    response = get(client, catalog.charlie, "/v1/collections")
    assert_response_matches(response, "GET", "/collections")
    assert response.json() == {
        "previous": None,
        "next": None,
        "results": [
            {"name": "Math", "slug": "math", "description": "Numbers"},
            {"name": "Aardvarks", "slug": "aardvarks", "description": ""},
        ],
    }


def test_collections_page(client, cast, settings):
    settings.API_PAGE_SIZE = 2
    Collection.objects.bulk_create(
        Collection(slug=f"c{i}", name=f"C{i}", position=i) for i in range(5)
    )
    first = get(client, cast.alice, "/v1/collections").json()
    assert [c["slug"] for c in first["results"]] == ["c0", "c1"] and first["previous"] is None
    second = get(client, cast.alice, first["next"]).json()
    third = get(client, cast.alice, second["next"]).json()
    assert [c["slug"] for c in third["results"]] == ["c4"] and third["next"] is None
    assert get(client, cast.alice, third["previous"]).json() == second
    assert get(client, cast.alice, second["previous"]).json() == first
    assert_problem(get(client, cast.alice, "/v1/collections?cursor=bm9wZQ"), 400)


def test_a_collection_shows_only_the_models_the_caller_may_see(client, catalog):
    response = get(client, catalog.charlie, "/v1/collections/math")
    assert_response_matches(response, "GET", "/collections/{collection_slug}")
    body = response.json()
    assert (body["name"], body["full_description"]) == ("Math", "## Sums")
    assert [m["name"] for m in body["models"]] == ["adder"]
    bob = get(client, catalog.bob, "/v1/collections/math").json()
    assert sorted(m["name"] for m in bob["models"]) == ["adder", "internal"]
    assert_problem(get(client, catalog.charlie, "/v1/collections/nope"), 404)


def test_hardware_is_a_bare_array_of_what_workers_serve(client, cast):
    Hardware.objects.filter(sku="gpu-t4").update(available=True)
    response = get(client, cast.charlie, "/v1/hardware")
    assert_response_matches(response, "GET", "/hardware")
    assert response.json() == [
        {"sku": "cpu", "name": "CPU"},
        {"sku": "gpu-t4", "name": "Nvidia T4 GPU"},
    ]
    assert create(client, cast.alice, hardware="gpu-t4").status_code == 201


# The official Python client against a live server (the `cast` fixture puts the hardware
# rows back after transactional tests empty the database)

live = pytest.mark.django_db(transaction=True)


@pytest.fixture
def official(live_server, catalog):
    def client_for(person_or_token) -> replicate.Client:
        token = person_or_token if isinstance(person_or_token, str) else person_or_token.token
        return replicate.Client(api_token=token, base_url=live_server.url)

    return client_for


@live
def test_the_official_client_gets_lists_and_searches_models(official, catalog, live_server):
    client = official(catalog.alice)
    model = client.models.get("alice/adder")
    assert model.url == f"{live_server.url}/alice/adder"
    assert model.latest_version.cog_version == "0.23.1"
    assert model.default_example.status == "succeeded" and model.default_example.output == 2
    listed = [m.id for m in client.models.list().results]
    assert listed == ["bob/draft", "acme/internal", "alice/secret", "alice/adder"]
    assert [m.id for m in client.models.search("adds one").results] == ["alice/adder"]
    with pytest.raises(ReplicateError) as raised:
        official(catalog.charlie).models.get("alice/secret")
    assert raised.value.status == 404


@live
def test_the_official_client_creates_and_deletes_models(official, catalog):
    client = official(catalog.bob)
    model = client.models.create(
        owner="acme", name="from-client", visibility="private", hardware="cpu", description="Hi"
    )
    assert (model.owner, model.name, model.description) == ("acme", "from-client", "Hi")
    assert model.latest_version is None
    with pytest.raises(ReplicateError) as raised:
        client.models.create(owner="acme", name="from-client", visibility="public", hardware="cpu")
    assert raised.value.status == 409
    assert client.models.delete("acme/from-client") is True
    assert not Model.objects.filter(name="from-client").exists()


@live
def test_the_official_client_reads_versions(official, catalog):
    model = official(catalog.alice).models.get("alice/secret")
    versions = model.versions.list().results
    assert [v.id for v in versions] == [model.latest_version.id]
    assert model.versions.get(versions[0].id).openapi_schema == SCHEMA


@live
def test_the_official_client_reads_collections_and_hardware(official, catalog):
    client = official(catalog.charlie)
    assert [c.slug for c in client.collections.list().results] == ["math"]
    math = client.collections.get("math")
    assert math.name == "Math" and [m.id for m in math] == ["alice/adder"]
    assert [(h.sku, h.name) for h in client.hardware.list()] == [("cpu", "CPU")]


def test_a_private_models_cover_is_not_found_by_guessing_its_file_name(
    client, cast, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    data_uri = "data:image/png;base64," + base64.b64encode(PNG).decode()
    urls = []
    for name in ("hidden-one", "hidden-two"):
        response = create(
            client, cast.alice, name=name, visibility="private", cover_image_url=data_uri
        )
        assert response.status_code == 201, response.content
        urls.append(response.json()["cover_image_url"].removeprefix("http://testserver"))
    folders = [url.removeprefix("/media/covers/").split("/") for url in urls]
    assert all(len(parts) == 2 and len(parts[0]) >= 20 for parts in folders), urls
    assert urls[0] != urls[1]  # the same picture, two unguessable places
    client.logout()
    assert client.get(urls[0]).getvalue() == PNG  # the URL itself is the capability
    guess = f"/media/covers/{folders[0][1]}"
    assert client.get(guess).status_code == 404
