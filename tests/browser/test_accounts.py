"""A new user signs up and makes an API token, in a real browser."""

from __future__ import annotations

import re

import httpx
import pytest

from apps.accounts.models import User

pytestmark = pytest.mark.django_db(transaction=True)


def test_sign_up(context, screens):
    page = context.new_page()
    page.goto("/")
    screens(page, "home")
    page.click("text=Sign up")
    page.fill("#id_username", "newcomer")
    page.fill("#id_password1", "a-long-and-unusual-passphrase")
    page.fill("#id_password2", "a-long-and-unusual-passphrase")
    screens(page, "form")
    page.click("main button[type=submit]")
    page.wait_for_url(re.compile(r".*/account/$"))
    screens(page, "account")
    assert "Welcome, newcomer" in page.content()
    assert User.objects.filter(username="newcomer").exists()


def test_create_a_token_and_use_it(context, login, platform, cast, screens):
    page = login(cast.alice)
    page.fill("#tokens input[name=name]", "laptop")
    page.click("#tokens button:has-text('Create token')")
    token = page.locator(".new-token input").input_value()
    screens(page, "token-shown")
    assert re.fullmatch(r"r8_[A-Za-z0-9]{37}", token)
    response = httpx.get(f"{platform.url}/v1/account", headers={"Authorization": f"Bearer {token}"})
    assert response.json()["username"] == "alice"
    page.reload()
    assert token not in page.content()  # shown once
    screens(page, "after-reload")
