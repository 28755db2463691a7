from __future__ import annotations

import pytest

from apps.accounts.models import ApiToken

PROBLEM = "application/problem+json"


def get_account(client, header: str | None):
    extra = {"HTTP_AUTHORIZATION": header} if header is not None else {}
    return client.get("/v1/account", **extra)


def test_it_returns_the_users_account_for_a_bearer_token(client, cast):
    response = get_account(client, f"Bearer {cast.alice.token}")
    assert response.status_code == 200
    body = response.json()
    assert body["type"] == "user"
    assert body["username"] == "alice"
    assert body["name"] == "alice"
    assert body["github_url"] is None
    assert body["avatar_url"] == "http://testserver/avatars/alice.svg"


def test_it_accepts_the_legacy_token_scheme(client, cast):
    response = get_account(client, f"Token {cast.bob.token}")
    assert response.status_code == 200
    assert response.json()["username"] == "bob"


def test_it_uses_the_full_name_and_github_url_when_set(client, cast):
    cast.alice.user.name = "Alice Liddell"
    cast.alice.user.github_url = "https://github.com/alice"
    cast.alice.user.save()
    body = get_account(client, f"Bearer {cast.alice.token}").json()
    assert body["name"] == "Alice Liddell"
    assert body["github_url"] == "https://github.com/alice"


def test_an_organization_token_acts_as_the_organization(client, cast):
    body = get_account(client, f"Bearer {cast.acme_token}").json()
    assert body == {
        "type": "organization",
        "username": "acme",
        "name": "Acme Corp",
        "github_url": None,
        "avatar_url": "http://testserver/avatars/acme.svg",
    }


def test_absolute_urls_use_public_url_when_configured(client, cast, settings):
    settings.PUBLIC_URL = "https://models.example.com"
    body = get_account(client, f"Bearer {cast.charlie.token}").json()
    assert body["avatar_url"] == "https://models.example.com/avatars/charlie.svg"


def test_a_missing_header_is_401_problem_json(client, cast):
    response = get_account(client, None)
    assert response.status_code == 401
    assert response["Content-Type"] == PROBLEM
    assert response.json() == {
        "title": "Unauthenticated",
        "detail": "You did not pass an authentication token",
        "status": 401,
    }


@pytest.mark.parametrize(
    "header",
    [
        "Bearer r8_" + "x" * 37,
        "Bearer nonsense",
        "Basic dXNlcjpwYXNz",
        "Bearer",
        "r8_" + "x" * 37,
    ],
)
def test_a_bad_token_is_401_problem_json(client, cast, header):
    response = get_account(client, header)
    assert response.status_code == 401
    assert response["Content-Type"] == PROBLEM
    assert response.json()["detail"] == "You did not pass a valid authentication token"


def test_a_token_with_a_correct_prefix_but_wrong_rest_is_refused(client, cast):
    forged = cast.alice.token[:8] + "A" * 32
    assert get_account(client, f"Bearer {forged}").status_code == 401


def test_a_revoked_token_is_refused(client, cast):
    ApiToken.objects.get(account=cast.alice.user.account, name="test").revoke()
    response = get_account(client, f"Bearer {cast.alice.token}")
    assert response.status_code == 401
    assert response["Content-Type"] == PROBLEM


def test_tokens_of_deleted_users_are_refused(client, cast):
    cast.charlie.user.delete()
    assert get_account(client, f"Bearer {cast.charlie.token}").status_code == 401


def test_tokens_of_deactivated_users_are_refused(client, cast):
    cast.charlie.user.is_active = False
    cast.charlie.user.save()
    assert get_account(client, f"Bearer {cast.charlie.token}").status_code == 401


def test_a_token_keeps_working_after_a_secret_key_rotation_with_fallback(client, cast, settings):
    old_key = settings.SECRET_KEY
    settings.SECRET_KEY = "a-brand-new-secret-key-for-the-rotation-test-0123456789"
    assert get_account(client, f"Bearer {cast.alice.token}").status_code == 401
    settings.SECRET_KEY_FALLBACKS = [old_key]
    assert get_account(client, f"Bearer {cast.alice.token}").status_code == 200


def test_tokens_are_stored_as_prefix_and_keyed_hash_only(cast):
    token = ApiToken.objects.get(account=cast.alice.user.account, name="test")
    assert len(cast.alice.token) == 40
    assert cast.alice.token.startswith("r8_")
    assert token.prefix == cast.alice.token[:8]
    assert cast.alice.token not in token.digest
    assert len(token.digest) == 64
    fields = [getattr(token, f.attname) for f in ApiToken._meta.concrete_fields]
    assert cast.alice.token not in [str(value) for value in fields]


def test_using_a_token_records_when_it_was_last_used(client, cast):
    token = ApiToken.objects.get(account=cast.bob.user.account, name="test")
    assert token.last_used_at is None
    get_account(client, f"Bearer {cast.bob.token}")
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_unknown_api_routes_are_404_problem_json(client, cast):
    response = client.get("/v1/no-such-thing", **cast.alice.auth())
    assert response.status_code == 404
    assert response["Content-Type"] == PROBLEM
    assert response.json()["status"] == 404


def test_the_openapi_document_describes_the_account_endpoint(client):
    response = client.get("/v1/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert "/v1/account" in document["paths"]
    assert document["components"]["securitySchemes"]["TokenAuth"]["scheme"] == "bearer"


def test_the_interactive_docs_load_without_a_cdn(client):
    response = client.get("/v1/docs")
    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui-bundle.js" in html
    assert "cdn." not in html
