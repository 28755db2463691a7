"""Working as an organization (the context switcher) and the webhook signing secret."""

from __future__ import annotations

import re

from django.test import RequestFactory

from apps.accounts.context import SESSION_KEY, current_account
from apps.catalog.models import Model

SECRET_RE = re.compile(r"whsec_[A-Za-z0-9+/=]{32}")


# --- The context switcher ------------------------------------------------------------------


def test_a_member_switches_to_the_organization(client_for, cast):
    client = client_for(cast.bob)
    response = client.post("/account/context/", {"account": "acme"})
    assert response.status_code == 302
    assert response["Location"] == "/dashboard?account=acme"
    assert client.session[SESSION_KEY] == "acme"
    # And back to the personal account, whose dashboard needs no parameter.
    response = client.post("/account/context/", {"account": "bob"})
    assert response["Location"] == "/dashboard"
    assert client.session[SESSION_KEY] == "bob"


def test_an_outsider_cannot_switch_to_an_organization(client_for, cast):
    client = client_for(cast.charlie)
    assert client.post("/account/context/", {"account": "acme"}).status_code == 404
    assert client.post("/account/context/", {"account": "alice"}).status_code == 404
    assert SESSION_KEY not in client.session


def test_switching_needs_a_login_and_a_post(client, client_for, cast):
    response = client.post("/account/context/", {"account": "acme"})
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")
    assert client_for(cast.bob).get("/account/context/").status_code == 405


def test_switching_goes_back_to_a_page_of_ours_only(client_for, cast):
    client = client_for(cast.bob)
    response = client.post("/account/context/", {"account": "acme", "next": "/acme/sauce/api"})
    assert response["Location"] == "/acme/sauce/api"
    response = client.post("/account/context/", {"account": "acme", "next": "https://evil.test/"})
    assert response["Location"] == "/dashboard?account=acme"


def test_an_htmx_switch_redirects_the_browser(client_for, cast):
    client = client_for(cast.bob)
    response = client.post(
        "/account/context/", {"account": "acme", "next": "/account/"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    assert response["HX-Redirect"] == "/account/"
    # Back to where the browser is now, even if htmx moved it on since `next` was rendered.
    response = client.post(
        "/account/context/",
        {"account": "bob", "next": "/acme/sauce"},
        HTTP_HX_REQUEST="true",
        HTTP_HX_CURRENT_URL="http://testserver/acme/sauce/api?version=abc",
    )
    assert response["HX-Redirect"] == "/acme/sauce/api?version=abc"
    response = client.post(
        "/account/context/",
        {"account": "bob", "next": "/acme/sauce"},
        HTTP_HX_REQUEST="true",
        HTTP_HX_CURRENT_URL="https://evil.test/acme/sauce/api",
    )
    assert response["HX-Redirect"] == "/acme/sauce"


def test_the_current_account_follows_the_session_and_the_query(cast):
    factory = RequestFactory()

    def request(query="", session=None):
        made = factory.get("/dashboard" + query)
        made.user, made.session = cast.bob.user, session or {}
        return made

    assert current_account(request()).name == "bob"
    assert current_account(request(session={SESSION_KEY: "acme"})).name == "acme"
    assert current_account(request("?account=bob", {SESSION_KEY: "acme"})).name == "bob"
    # A name that is not one of bob's falls back to his own account.
    assert current_account(request("?account=charlie")).name == "bob"
    charlie = factory.get("/")
    charlie.user, charlie.session = cast.charlie.user, {SESSION_KEY: "acme"}
    assert current_account(charlie).name == "charlie"


def test_the_switcher_lists_only_the_users_accounts(client_for, cast):
    html = client_for(cast.bob).get("/account/").content.decode()
    assert '<option value="bob" selected>bob</option>' in html
    assert '<option value="acme">acme (organization)</option>' in html
    assert 'href="/dashboard?account=acme"' in html
    # Nothing to switch between for someone without organizations.
    html = client_for(cast.charlie).get("/account/").content.decode()
    assert 'name="account"' not in html


def test_the_model_page_shows_the_switcher_with_the_current_choice(client_for, cast):
    Model.objects.create(owner=cast.acme.account, name="sauce")
    client = client_for(cast.bob)
    client.post("/account/context/", {"account": "acme"})
    html = client.get("/acme/sauce").content.decode()
    assert '<option value="acme" selected>acme (organization)</option>' in html
    assert '<input type="hidden" name="next" value="/acme/sauce">' in html


# --- The webhook signing secret ------------------------------------------------------------


def test_the_personal_secret_is_shown_only_after_reveal(client_for, cast):
    client = client_for(cast.alice)
    page = client.get("/account/").content.decode()
    assert SECRET_RE.search(page) is None
    assert 'action="/account/webhook-secret/"' in page
    response = client.post("/account/webhook-secret/")
    assert response.status_code == 200
    [secret] = SECRET_RE.findall(response.content.decode())
    assert secret == cast.alice.user.account.webhook_signing_secret()
    assert "no-store" in response["Cache-Control"]
    # The same secret the API gives the official clients.
    api = client.get("/v1/webhooks/default/secret", **cast.alice.auth()).json()
    assert api["key"] == secret
    # Still not in the page on the next visit.
    assert SECRET_RE.search(client.get("/account/").content.decode()) is None


def test_an_htmx_reveal_returns_just_the_section(client_for, cast):
    response = client_for(cast.bob).post("/account/webhook-secret/", HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert html.startswith('<section class="card" id="webhook-secret">')
    assert SECRET_RE.findall(html) == [cast.bob.user.account.webhook_signing_secret()]


def test_owners_reveal_the_organization_secret(client_for, cast):
    client = client_for(cast.alice)
    page = client.get("/organizations/acme/").content.decode()
    assert 'action="/organizations/acme/webhook-secret/"' in page
    assert SECRET_RE.search(page) is None
    response = client.post("/organizations/acme/webhook-secret/")
    assert SECRET_RE.findall(response.content.decode()) == [
        cast.acme.account.webhook_signing_secret()
    ]
    assert "no-store" in response["Cache-Control"]
    assert cast.acme.account.webhook_signing_secret() != cast.alice.user.account.webhook_secret


def test_the_organization_page_links_its_dashboard(client_for, cast):
    html = client_for(cast.bob).get("/organizations/acme/").content.decode()
    assert 'href="/dashboard?account=acme"' in html


def test_members_and_outsiders_cannot_reveal_the_organization_secret(client, client_for, cast):
    bob = client_for(cast.bob)
    page = bob.get("/organizations/acme/").content.decode()
    assert "webhook-secret" not in page
    response = bob.post("/organizations/acme/webhook-secret/")
    assert response.status_code == 403
    assert SECRET_RE.search(response.content.decode()) is None
    charlie = client_for(cast.charlie)
    response = charlie.post("/organizations/acme/webhook-secret/")
    assert response.status_code == 404
    assert SECRET_RE.search(response.content.decode()) is None
    client.logout()
    assert client.post("/organizations/acme/webhook-secret/").status_code == 302
    assert client.post("/account/webhook-secret/").status_code == 302


def test_the_reveal_is_a_post(client_for, cast):
    assert client_for(cast.alice).get("/account/webhook-secret/").status_code == 405


def test_the_account_page_says_where_tokens_and_base_urls_are(client_for, cast):
    html = client_for(cast.alice).get("/account/").content.decode()
    assert 'href="#tokens"' in html
    assert "REPLICATE_BASE_URL=http://testserver</code>" in html
    assert 'baseUrl: "http://testserver/v1"' in html
