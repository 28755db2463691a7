from __future__ import annotations

import re

from apps.accounts.models import ApiToken

TOKEN_RE = re.compile(r"r8_[A-Za-z0-9]{37}")


def shown_tokens(response) -> list[str]:
    return TOKEN_RE.findall(response.content.decode())


def test_creating_a_token_shows_it_once(client_for, cast):
    client = client_for(cast.alice)
    response = client.post("/account/tokens/", {"name": "laptop"})
    assert response.status_code == 200
    [raw] = shown_tokens(response)
    token = ApiToken.objects.get(name="laptop")
    assert token.account == cast.alice.user.account
    assert token.matches(raw)
    # Never again: the account page lists the prefix only.
    page = client.get("/account/")
    assert shown_tokens(page) == []
    assert token.prefix in page.content.decode()
    # And the token works against the API.
    assert (
        client.get("/v1/account", HTTP_AUTHORIZATION=f"Bearer {raw}").json()["username"] == "alice"
    )


def test_htmx_token_creation_returns_the_tokens_section(client_for, cast):
    client = client_for(cast.alice)
    response = client.post("/account/tokens/", {"name": "ci"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 201
    html = response.content.decode()
    assert html.lstrip().startswith('<section class="card" id="tokens">')
    assert len(shown_tokens(response)) == 1


def test_a_token_needs_a_name(client_for, cast):
    client = client_for(cast.alice)
    response = client.post("/account/tokens/", {"name": "   "})
    assert response.status_code == 422
    assert (
        "This field is required" in response.content.decode()
        or "Give the token a name" in response.content.decode()
    )
    assert (
        not ApiToken.objects.filter(account=cast.alice.user.account).exclude(name="test").exists()
    )


def test_revoking_a_token_stops_it(client_for, cast):
    client = client_for(cast.alice)
    token = ApiToken.objects.get(account=cast.alice.user.account)
    assert client.post(f"/account/tokens/{token.pk}/revoke/").status_code == 302
    token.refresh_from_db()
    assert token.is_revoked
    assert client.get("/v1/account", **cast.alice.auth()).status_code == 401
    assert token.prefix not in client.get("/account/").content.decode()


def test_nobody_revokes_someone_elses_token(client_for, cast):
    token = ApiToken.objects.get(account=cast.alice.user.account)
    client = client_for(cast.charlie)
    assert client.post(f"/account/tokens/{token.pk}/revoke/").status_code == 404
    token.refresh_from_db()
    assert not token.is_revoked


def test_organization_tokens_are_managed_by_owners(client_for, cast):
    client = client_for(cast.alice)
    response = client.post("/organizations/acme/tokens/", {"name": "deploy"})
    [raw] = shown_tokens(response)
    assert (
        client.get("/v1/account", HTTP_AUTHORIZATION=f"Bearer {raw}").json()["type"]
        == "organization"
    )
    token = ApiToken.objects.get(name="deploy")
    assert client.post(f"/organizations/acme/tokens/{token.pk}/revoke/").status_code == 302
    token.refresh_from_db()
    assert token.is_revoked


def test_members_see_organization_tokens_but_cannot_create_or_revoke(client_for, cast):
    client = client_for(cast.bob)
    page = client.get("/organizations/acme/").content.decode()
    assert "acme ci" in page
    assert shown_tokens(client.get("/organizations/acme/")) == []
    assert client.post("/organizations/acme/tokens/", {"name": "mine"}).status_code == 403
    token = ApiToken.objects.get(name="acme ci")
    assert client.post(f"/organizations/acme/tokens/{token.pk}/revoke/").status_code == 403
    token.refresh_from_db()
    assert not token.is_revoked


def test_outsiders_get_404_for_organization_tokens(client_for, cast):
    client = client_for(cast.charlie)
    token = ApiToken.objects.get(name="acme ci")
    assert client.post("/organizations/acme/tokens/", {"name": "mine"}).status_code == 404
    assert client.post(f"/organizations/acme/tokens/{token.pk}/revoke/").status_code == 404
    assert not ApiToken.objects.filter(name="mine").exists()


def test_a_personal_token_cannot_be_revoked_through_an_organization_url(client_for, cast):
    client = client_for(cast.alice)
    token = ApiToken.objects.get(account=cast.alice.user.account)
    assert client.post(f"/organizations/acme/tokens/{token.pk}/revoke/").status_code == 404


def test_token_creation_needs_login(client, cast):
    response = client.post("/account/tokens/", {"name": "x"})
    assert response.status_code == 302
    assert not ApiToken.objects.filter(name="x").exists()
