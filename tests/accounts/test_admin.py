from __future__ import annotations

import pytest
from django.contrib import admin

from apps.accounts.models import Account, ApiToken, Membership, Organization, User

ADMIN_MODELS = [User, Organization, Membership, Account, ApiToken]


@pytest.fixture
def staff_client(client, cast):
    cast.alice.user.is_staff = cast.alice.user.is_superuser = True
    cast.alice.user.save()
    client.force_login(cast.alice.user)
    return client


def changelist_url(model) -> str:
    return f"/admin/{model._meta.app_label}/{model._meta.model_name}/"


def test_every_model_of_ours_is_registered():
    ours = {m for m in admin.site._registry if m._meta.app_label == "accounts"}
    assert ours == set(ADMIN_MODELS)


@pytest.mark.parametrize("model", ADMIN_MODELS)
def test_staff_see_every_changelist_and_can_search_it(staff_client, model):
    assert staff_client.get(changelist_url(model)).status_code == 200
    assert staff_client.get(changelist_url(model), {"q": "acme"}).status_code == 200


@pytest.mark.parametrize("model", ADMIN_MODELS)
def test_staff_open_every_change_page(staff_client, model):
    obj = model.objects.first()
    assert staff_client.get(f"{changelist_url(model)}{obj.pk}/change/").status_code == 200


def test_the_token_page_never_offers_the_digest_for_editing(staff_client, cast):
    token = ApiToken.objects.get(name="acme ci")
    html = staff_client.get(f"{changelist_url(ApiToken)}{token.pk}/change/").content.decode()
    assert 'name="digest"' not in html
    assert cast.acme_token not in html


def test_staff_revoke_tokens_with_the_bulk_action(staff_client, cast):
    token = ApiToken.objects.get(name="acme ci")
    response = staff_client.post(
        changelist_url(ApiToken), {"action": "revoke", "_selected_action": [token.pk]}
    )
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.is_revoked


def test_adding_a_user_in_the_admin_claims_the_name(staff_client):
    response = staff_client.post(
        "/admin/accounts/user/add/",
        {
            "username": "eve",
            "password1": "x-very-long-pass-123",
            "password2": "x-very-long-pass-123",
            "usable_password": "true",
        },
    )
    assert response.status_code == 302
    assert Account.objects.get(name="eve").user.username == "eve"


def test_the_admin_refuses_a_name_an_organization_has(staff_client):
    response = staff_client.post(
        "/admin/accounts/user/add/",
        {
            "username": "ACME",
            "password1": "x-very-long-pass-123",
            "password2": "x-very-long-pass-123",
            "usable_password": "true",
        },
    )
    assert response.status_code == 200
    assert "already taken" in response.content.decode()


def test_adding_an_organization_in_the_admin_creates_its_account(staff_client):
    response = staff_client.post(
        "/admin/accounts/organization/add/",
        {
            "name": "globex",
            "display_name": "",
            "github_url": "",
            "created_at_0": "2026-01-01",
            "created_at_1": "00:00:00",
            "memberships-TOTAL_FORMS": "0",
            "memberships-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Account.objects.get(name="globex").type == "organization"


@pytest.mark.parametrize("who", ["bob", "charlie"])
def test_non_staff_are_sent_to_the_admin_login(client, cast, who):
    client.force_login(getattr(cast, who).user)
    response = client.get(changelist_url(ApiToken))
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
