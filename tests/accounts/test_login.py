from __future__ import annotations

import time

from django.test import Client


def test_login_with_the_right_password(client, cast):
    response = client.post("/login/", {"username": "alice", "password": cast.alice.password})
    assert response.status_code == 302
    assert client.get("/account/").status_code == 200


def test_login_with_a_wrong_password_shows_an_error(client, cast):
    response = client.post("/login/", {"username": "alice", "password": "nope"})
    assert response.status_code == 200
    assert "correct username and password" in response.content.decode()
    assert client.get("/account/").status_code == 302


def test_logout_needs_a_post_and_ends_the_session(client_for, cast):
    client = client_for(cast.bob)
    assert client.get("/logout/").status_code == 405
    assert client.post("/logout/").status_code == 302
    assert client.get("/account/")["Location"].startswith("/login/")


def test_the_account_page_requires_login(client, db):
    response = client.get("/account/")
    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/account/"


def test_password_change(client_for, cast):
    client = client_for(cast.charlie)
    response = client.post(
        "/account/password/",
        {
            "old_password": cast.charlie.password,
            "new_password1": "another-long-passphrase-42",
            "new_password2": "another-long-passphrase-42",
        },
    )
    assert response.status_code == 302
    cast.charlie.user.refresh_from_db()
    assert cast.charlie.user.check_password("another-long-passphrase-42")


def test_password_change_with_a_wrong_old_password_is_refused(client_for, cast):
    client = client_for(cast.charlie)
    response = client.post(
        "/account/password/",
        {
            "old_password": "wrong",
            "new_password1": "another-long-passphrase-42",
            "new_password2": "another-long-passphrase-42",
        },
    )
    assert response.status_code == 200
    assert "old password was entered incorrectly" in response.content.decode()
    cast.charlie.user.refresh_from_db()
    assert cast.charlie.user.check_password(cast.charlie.password)


def test_profile_edit(client_for, cast):
    client = client_for(cast.alice)
    response = client.post(
        "/account/",
        {"name": "Alice L.", "email": "alice@example.com", "github_url": "github.com/al"},
    )
    assert response.status_code == 302
    cast.alice.user.refresh_from_db()
    assert cast.alice.user.name == "Alice L."
    assert cast.alice.user.github_url == "https://github.com/al"


def test_profile_edit_with_a_bad_url_shows_the_error_by_the_field(client_for, cast):
    client = client_for(cast.alice)
    response = client.post("/account/", {"name": "", "email": "", "github_url": "not a url"})
    assert response.status_code == 422
    assert "Enter a valid URL" in response.content.decode()


def test_a_login_post_without_csrf_is_refused(cast):
    response = Client(enforce_csrf_checks=True).post(
        "/login/", {"username": "alice", "password": cast.alice.password}
    )
    assert response.status_code == 403


def test_failed_logins_are_throttled_per_account_name(client, cast, settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    for _ in range(3):
        response = client.post("/login/", {"username": "alice", "password": "nope"})
        assert "correct username and password" in response.content.decode()
    # Past the limit even the right password is refused, with the reason on the form.
    response = client.post("/login/", {"username": "Alice", "password": cast.alice.password})
    assert response.status_code == 200
    assert "Too many failed attempts to log in" in response.content.decode()
    assert client.get("/account/").status_code == 302
    # Another account, from the same address, is not affected.
    response = client.post("/login/", {"username": "bob", "password": cast.bob.password})
    assert response.status_code == 302


def test_failed_logins_are_throttled_per_client_address(cast, settings):
    settings.LOGIN_FAILURE_LIMIT_PER_ADDRESS = 4
    attacker = Client(REMOTE_ADDR="203.0.113.9")
    for name in ("alice", "bob", "charlie", "dave"):
        attacker.post("/login/", {"username": name, "password": "guess"})
    response = attacker.post("/login/", {"username": "bob", "password": cast.bob.password})
    assert "Too many failed attempts to log in" in response.content.decode()
    # Somebody else, from another address, logs in as usual.
    elsewhere = Client(REMOTE_ADDR="198.51.100.7")
    response = elsewhere.post("/login/", {"username": "bob", "password": cast.bob.password})
    assert response.status_code == 302


def test_the_throttle_ends_with_its_window(client, cast, settings):
    settings.LOGIN_FAILURE_LIMIT, settings.LOGIN_FAILURE_WINDOW = 1, 2
    client.post("/login/", {"username": "alice", "password": "nope"})
    response = client.post("/login/", {"username": "alice", "password": cast.alice.password})
    assert "Too many failed attempts" in response.content.decode()
    time.sleep(2.1)  # the next window
    response = client.post("/login/", {"username": "alice", "password": cast.alice.password})
    assert response.status_code == 302
