"""Explore, collections and the dashboard, as alice (owns acme), bob (member) and charlie
(outsider) and anonymous visitors see them."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.accounts.context import SESSION_KEY
from apps.catalog.models import Collection, Model, Version
from apps.predictions.models import Prediction

_digests = itertools.count()


def make_model(owner, name, *, visibility="public", versioned=True, **fields) -> Model:
    model = Model.objects.create(owner=owner, name=name, visibility=visibility, **fields)
    if versioned:
        Version.objects.create(
            model=model,
            digest=f"{next(_digests):064x}",
            openapi_schema={},
            cog_version="0.16.12",
            predictor_ref="predict.py:Predictor",
        )
        model.refresh_latest_version()
    return model


def make_prediction(model, owner, *, status="succeeded", by=None, **fields) -> Prediction:
    return Prediction.objects.create(
        owner=owner,
        created_by=by,
        model=model,
        version=model.latest_version,
        status=status,
        **fields,
    )


@pytest.fixture
def catalog(cast):
    """A public model of alice's, acme's private one, a public one with no version yet."""
    return {
        "public": make_model(
            cast.alice.user.account,
            "sketchy",
            description="Turns photos into pencil drawings",
            featured=True,
            run_count=1234,
        ),
        "private": make_model(
            cast.acme.account, "secret-sauce", visibility="private", description="Pencil magic"
        ),
        "unversioned": make_model(
            cast.charlie.user.account, "draft-pencil", versioned=False, description="Pencil"
        ),
    }


def htmx(**headers) -> dict[str, str]:
    return {"HTTP_HX_REQUEST": "true", **headers}


# Explore


@pytest.mark.parametrize("path", ["/", "/explore"])
def test_it_shows_featured_and_recent_public_models_to_everyone(client, catalog, path):
    response = client.get(path)
    html = response.content.decode()
    assert response.status_code == 200
    assert "Featured" in html and "Recently added" in html
    assert 'href="/alice/sketchy"' in html
    assert "1,234 runs" in html
    assert "Turns photos into pencil drawings" in html
    assert 'src="/avatars/alice.svg"' in html
    assert "secret-sauce" not in html
    assert "draft-pencil" not in html


def test_it_lists_private_models_to_nobody_on_the_front_page(client_for, cast, catalog):
    html = client_for(cast.alice).get("/").content.decode()
    assert "sketchy" in html
    assert "secret-sauce" not in html


def test_it_shows_popular_models_when_none_is_featured(client, cast):
    make_model(cast.alice.user.account, "plain", run_count=3)
    html = client.get("/").content.decode()
    assert "Popular" in html and "Featured" not in html
    assert "/alice/plain" in html


def test_it_has_a_friendly_empty_state(client, db):
    html = client.get("/").content.decode()
    assert "No models yet" in html


def test_it_links_collections_on_the_front_page(client, cast, catalog):
    collection = Collection.objects.create(slug="drawing", name="Drawing")
    collection.models.add(catalog["public"], catalog["private"])
    html = client.get("/").content.decode()
    assert 'href="/collections/drawing"' in html
    assert "1 model:" in html


@pytest.mark.parametrize(
    "query", ["pencil drawings", "sketchy", "ALICE", "alice/sketch", "photos pencil"]
)
def test_search_finds_models_by_name_description_and_owner(client, catalog, query):
    response = client.get("/explore", {"query": query})
    html = response.content.decode()
    assert response.status_code == 200
    assert 'href="/alice/sketchy"' in html
    assert f'value="{query}"' in html  # the search box keeps the query without JS


def test_search_never_shows_private_or_unversioned_models_to_outsiders(
    client, client_for, cast, catalog
):
    assert "secret-sauce" not in client.get("/explore?query=pencil").content.decode()
    html = client_for(cast.charlie).get("/explore?query=pencil").content.decode()
    assert "secret-sauce" not in html
    assert "sketchy" in html
    # charlie's own model has no version yet, but he can find it.
    assert "draft-pencil" in html
    client.logout()
    assert "draft-pencil" not in client.get("/explore?query=pencil").content.decode()


@pytest.mark.parametrize("person", ["alice", "bob"])
def test_search_shows_members_their_organizations_private_models(client_for, cast, catalog, person):
    html = client_for(getattr(cast, person)).get("/explore?query=pencil").content.decode()
    assert 'href="/acme/secret-sauce"' in html
    assert "Private" in html


def test_search_with_no_match_says_so(client, catalog):
    html = client.get("/explore?query=zebra").content.decode()
    assert "No models match “zebra”" in html
    assert "Browse all models" in html


def test_the_query_is_escaped(client, db):
    html = client.get("/explore", {"query": "<script>alert(1)</script>"}).content.decode()
    assert "<script>alert(1)" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_htmx_search_returns_only_the_results(client, catalog):
    response = client.get("/explore?query=pencil", **htmx())
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html and 'id="explore-query"' not in html
    assert 'href="/alice/sketchy"' in html
    assert 'id="search-status"' in html and 'hx-swap-oob="true"' in html


def test_htmx_with_an_empty_query_returns_the_browse_view(client, catalog):
    html = client.get("/explore?query=", **htmx()).content.decode()
    assert "<html" not in html
    assert "Featured" in html


def test_a_history_restore_gets_the_whole_page(client, catalog):
    html = client.get(
        "/explore?query=pencil", **htmx(HTTP_HX_HISTORY_RESTORE_REQUEST="true")
    ).content.decode()
    assert "<html" in html


def test_the_search_box_updates_as_you_type_and_works_without_js(client, db):
    html = client.get("/").content.decode()
    assert 'action="/explore" method="get"' in html
    assert 'hx-get="/explore"' in html
    assert 'hx-trigger="input changed delay:250ms, search"' in html
    assert '<label for="explore-query"' in html


def test_explore_runs_a_bounded_number_of_queries(client_for, cast, django_assert_max_num_queries):
    for n in range(30):
        make_model(cast.acme.account, f"model-{n}", featured=n % 2 == 0, description="batch")
    collection = Collection.objects.create(slug="batch", name="Batch")
    collection.models.add(*Model.objects.all())
    client = client_for(cast.bob)
    # session, user, account; featured, collections and their models, recent
    with django_assert_max_num_queries(7):
        assert client.get("/").status_code == 200
    # session, user, account; models, collections
    with django_assert_max_num_queries(5):
        html = client.get("/explore?query=batch").content.decode()
    assert "30 models matching" in html


# Collections


def test_collections_list_and_detail_show_only_visible_models(client, client_for, cast, catalog):
    collection = Collection.objects.create(
        slug="drawing", name="Drawing", description="Pictures from lines"
    )
    collection.models.add(catalog["public"], catalog["private"], catalog["unversioned"])
    html = client.get("/collections").content.decode()
    assert 'href="/collections/drawing"' in html and "Pictures from lines" in html
    assert "secret-sauce" not in html
    for person in (None, cast.charlie):
        if person:
            client = client_for(person)
        html = client.get("/collections/drawing").content.decode()
        assert 'href="/alice/sketchy"' in html
        assert "secret-sauce" not in html
    html = client_for(cast.bob).get("/collections/drawing").content.decode()
    assert 'href="/acme/secret-sauce"' in html


def test_an_unknown_collection_is_404(client, db):
    assert client.get("/collections/nope").status_code == 404


def test_empty_collections_say_so(client, db):
    assert "No collections yet" in client.get("/collections").content.decode()
    Collection.objects.create(slug="empty", name="Empty")
    html = client.get("/collections/empty").content.decode()
    assert "no models in this collection yet" in html


def test_collection_pages_run_a_bounded_number_of_queries(
    client, cast, django_assert_max_num_queries
):
    for n in range(3):
        collection = Collection.objects.create(slug=f"c{n}", name=f"C{n}")
        collection.models.add(*[make_model(cast.acme.account, f"m{n}-{i}") for i in range(10)])
    with django_assert_max_num_queries(2):
        assert client.get("/collections").status_code == 200
    with django_assert_max_num_queries(2):
        assert client.get("/collections/c1").status_code == 200


# Dashboard


@pytest.fixture
def predictions(cast, catalog):
    alice, acme = cast.alice.user.account, cast.acme.account
    return {
        "alice": make_prediction(
            catalog["public"], alice, by=cast.alice.user, metrics={"predict_time": 1.25}
        ),
        "acme": make_prediction(
            catalog["private"], acme, by=cast.bob.user, source="web", status="failed"
        ),
        "charlie": make_prediction(catalog["public"], cast.charlie.user.account),
    }


def test_the_dashboard_needs_a_login(client, db):
    response = client.get("/dashboard")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_the_dashboard_shows_only_your_own_accounts_predictions(client_for, cast, predictions):
    html = client_for(cast.alice).get("/dashboard").content.decode()
    assert f'href="/p/{predictions["alice"].id}"' in html
    assert predictions["acme"].id not in html
    assert predictions["charlie"].id not in html
    assert "1.25s" in html and "Succeeded" in html and '<td data-label="Source">API</td>' in html


def test_a_member_sees_the_organizations_predictions(client_for, cast, predictions):
    response = client_for(cast.bob).get("/dashboard?account=acme")
    html = response.content.decode()
    assert response.status_code == 200
    assert predictions["acme"].id in html
    assert "by bob" in html
    assert predictions["alice"].id not in html
    assert 'href="/acme/secret-sauce"' in html  # in acme's models too
    assert 'name="account" value="acme"' in html  # the filters keep the account


def test_the_dashboard_follows_the_account_chosen_in_the_context_switcher(
    client_for, cast, predictions
):
    client = client_for(cast.bob)
    session = client.session
    session[SESSION_KEY] = "acme"
    session.save()
    assert predictions["acme"].id in client.get("/dashboard").content.decode()
    # An explicit ?account= wins over the session's choice.
    html = client.get("/dashboard?account=bob").content.decode()
    assert predictions["acme"].id not in html and "No predictions yet" in html


@pytest.mark.parametrize("account", ["acme", "alice", "nobody"])
def test_other_accounts_dashboards_are_404(client_for, cast, predictions, account):
    assert client_for(cast.charlie).get(f"/dashboard?account={account}").status_code == 404


def test_the_dashboard_filters(client_for, cast, catalog):
    alice = cast.alice.user.account
    other = make_model(alice, "other")
    make_prediction(catalog["public"], alice, status="failed", source="web")
    make_prediction(catalog["public"], alice, status="succeeded", source="api")
    make_prediction(other, alice, status="succeeded", source="web")
    client = client_for(cast.alice)

    def ids(**params):
        page = client.get("/dashboard", params).context["page"]
        return sorted((p.model.name, p.status, p.source) for p in page)

    assert ids(status="failed") == [("sketchy", "failed", "web")]
    assert ids(source="web") == [("other", "succeeded", "web"), ("sketchy", "failed", "web")]
    assert ids(model="alice/other") == [("other", "succeeded", "web")]
    assert ids(model="alice/sketchy", source="api") == [("sketchy", "succeeded", "api")]
    # A value that is not a choice is ignored, not an error.
    assert len(ids(status="bogus", model="acme/secret-sauce")) == 3
    html = client.get("/dashboard?status=canceled").content.decode()
    assert "No predictions match these filters" in html


def test_the_dashboard_pages_by_fifty(client_for, cast, catalog, django_assert_max_num_queries):
    alice = cast.alice.user.account
    now = timezone.now()
    other = make_model(alice, "other")
    for n in range(60):
        make_prediction(
            catalog["public"] if n % 2 else other,
            alice,
            by=cast.alice.user,
            created_at=now - timedelta(minutes=n),
            metrics={"predict_time": n / 10},
        )
    client = client_for(cast.alice)
    # session, user, accounts, models run (the filter), count, predictions, your models,
    # recent trainings, the month's spend alerts
    with django_assert_max_num_queries(9):
        first = client.get("/dashboard")
    assert len(first.context["page"]) == 50
    assert 'href="?page=2"' in first.content.decode()
    with django_assert_max_num_queries(9):
        second = client.get("/dashboard?page=2")
    assert len(second.context["page"]) == 10
    assert second.context["page"][9].created_at == now - timedelta(minutes=59)


def test_running_predictions_are_polled_until_none_is_left(client_for, cast, catalog):
    alice = cast.alice.user.account
    running = make_prediction(catalog["public"], alice, status="processing")
    client = client_for(cast.alice)
    html = client.get("/dashboard?source=api").content.decode()
    assert 'hx-get="/dashboard?source=api" hx-trigger="every 2s"' in html
    assert "running…" in html

    partial = client.get("/dashboard?source=api", **htmx()).content.decode()
    assert "<html" not in partial and "Your models" not in partial
    assert 'hx-trigger="every 2s"' in partial

    running.status = "succeeded"
    running.metrics = {"predict_time": 3.5}
    running.save()
    partial = client.get("/dashboard?source=api", **htmx()).content.decode()
    assert "Succeeded" in partial and "3.50s" in partial
    assert "hx-trigger" not in partial


def test_the_dashboard_shows_friendly_empty_states(client_for, cast):
    html = client_for(cast.charlie).get("/dashboard").content.decode()
    assert "No predictions yet" in html
    assert "No models here yet" in html
    assert 'name="status"' not in html  # no filters for nothing


def test_your_models_include_private_and_unversioned_ones(client_for, cast, catalog):
    html = client_for(cast.charlie).get("/dashboard").content.decode()
    assert 'href="/charlie/draft-pencil"' in html and "No version yet" in html
    html = client_for(cast.alice).get("/dashboard").content.decode()
    assert 'href="/alice/sketchy"' in html and "secret-sauce" not in html


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(0.0512, "0.05s"), (12.34, "12.3s"), (125, "2m 05s"), (3725, "1h 02m"), (None, "")],
)
def test_run_times_read_well(seconds, shown):
    from apps.explore.templatetags.explore_tags import seconds as format_seconds

    assert format_seconds(seconds) == shown


# Navigation


def test_the_navigation_fits_who_is_looking(client, client_for, cast):
    html = client.get("/collections").content.decode()
    assert 'href="/explore"' in html and "Log in" in html
    assert 'href="/dashboard"' not in html
    html = client_for(cast.charlie).get("/collections").content.decode()
    assert 'href="/dashboard"' in html and 'href="/organizations/"' in html
    assert "Log out" in html and "/admin/" not in html
    assert '<a href="/collections" aria-current="page">' in html
    cast.charlie.user.is_staff = True
    cast.charlie.user.save()
    assert 'href="/admin/"' in client.get("/collections").content.decode()
