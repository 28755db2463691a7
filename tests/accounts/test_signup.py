from __future__ import annotations

import pytest
from django.test import Client

from apps.accounts.models import Account, User

PASSWORD = "a-long-unusual-passphrase"


def signup(client, username: str, **extra):
    data = {"username": username, "email": "", "password1": PASSWORD, "password2": PASSWORD}
    return client.post("/signup/", {**data, **extra})


def test_the_signup_page_renders(client, db):
    response = client.get("/signup/")
    assert response.status_code == 200
    assert b'name="username"' in response.content


def test_it_signs_up_logs_in_and_creates_the_account(client, db):
    response = signup(client, "dora")
    assert response.status_code == 302
    assert response["Location"] == "/account/"
    user = User.objects.get(username="dora")
    assert user.account.name == "dora"
    assert user.account.type == "user"
    assert client.get("/account/").status_code == 200


def test_a_taken_username_is_refused_whatever_the_case(client, cast):
    response = signup(client, "ALICE")
    assert response.status_code == 422
    assert "already taken" in response.content.decode()
    assert User.objects.filter(username__iexact="alice").count() == 1


def test_a_username_cannot_take_an_organizations_name(client, cast):
    response = signup(client, "Acme")
    assert response.status_code == 422
    assert "already taken" in response.content.decode()
    assert not User.objects.filter(username__iexact="acme").exists()


@pytest.mark.parametrize("name", ["admin", "API", "v1", "static", "login"])
def test_reserved_names_are_refused(client, db, name):
    response = signup(client, name)
    assert response.status_code == 422
    assert "reserved" in response.content.decode()
    assert not Account.objects.exists()


@pytest.mark.parametrize("name", ["with space", "slash/name", "-dash", "dot.name", "é", "x" * 40])
def test_names_that_are_not_url_safe_are_refused(client, db, name):
    response = signup(client, name)
    assert response.status_code == 422
    assert 'class="error"' in response.content.decode()
    assert not User.objects.exists()


def test_mismatched_passwords_show_an_error_next_to_the_field(client, db):
    response = signup(client, "dora", password2="something else entirely")
    assert response.status_code == 422
    assert "fields didn’t match" in response.content.decode()


def test_a_signup_post_without_csrf_is_refused(db):
    csrf_client = Client(enforce_csrf_checks=True)
    response = signup(csrf_client, "mallory")
    assert response.status_code == 403
    assert not User.objects.filter(username="mallory").exists()


def test_a_logged_in_user_is_sent_to_the_account_page(client_for, cast):
    client = client_for(cast.alice)
    response = client.get("/signup/")
    assert response.status_code == 302
    assert response["Location"] == "/account/"


def test_the_csrf_failure_page_explains_what_happened(db):
    response = signup(Client(enforce_csrf_checks=True), "mallory")
    assert response.status_code == 403
    assert "This form has expired" in response.content.decode()
