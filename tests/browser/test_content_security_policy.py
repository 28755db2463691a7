"""Every kind of page works under the Content-Security-Policy: the browser reports no
violation (no inline script or style, no eval, nothing from another origin)."""

from __future__ import annotations

import re

import httpx
import pytest

from apps.catalog.models import Model
from tests.e2e.platform import push_model

pytestmark = pytest.mark.django_db(transaction=True)

# Reports each violation on the page, whatever the console says.
RECORD_VIOLATIONS = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.cspViolations.push(`${event.violatedDirective} ${event.blockedURI}`);
});
"""


def watch(page) -> list[str]:
    errors: list[str] = []
    page.on(
        "console",
        lambda message: message.type == "error" and errors.append(f"{page.url}: {message.text}"),
    )
    page.on("pageerror", lambda error: errors.append(f"{page.url}: {error}"))
    return errors


def violations(page) -> list[str]:
    return [f"{page.url}: {v}" for v in page.evaluate("window.cspViolations || []")]


def test_it_shows_every_kind_of_page_without_a_policy_violation(
    context, login, platform, cast, tmp_path, screens
):
    context.add_init_script(RECORD_VIOLATIONS)
    version = push_model(cast.alice.user.account, "hello", tmp_path)
    model = Model.objects.get(pk=version.model_id)
    cast.alice.user.is_staff = cast.alice.user.is_superuser = True
    cast.alice.user.save(update_fields=["is_staff", "is_superuser"])
    page = login(cast.alice)
    errors = watch(page)
    found: list[str] = []

    # The account page with a token just made (shown once, selected on focus, copy button).
    page.fill("#tokens input[name=name]", "laptop")
    page.click("#tokens button:has-text('Create token')")
    page.locator(".new-token input").focus()
    found += violations(page)

    for path in [
        "/",
        "/explore",
        "/collections",
        "/dashboard",
        "/organizations/",
        f"/alice/{model.name}",
        f"/alice/{model.name}/api",
        f"/alice/{model.name}/versions",
        "/admin/",
        "/v1/docs",
        "/no-such-page",
    ]:
        page.goto(path)
        page.wait_for_load_state("networkidle")
        found += violations(page)
    page.goto("/v1/docs")
    page.locator(".swagger-ui .info").wait_for()  # Swagger UI rendered from local files
    page.locator(".opblock-summary-path", has_text="/v1/hardware").click()
    page.locator(".opblock-body .responses-wrapper").wait_for()  # examples, highlighted
    screens(page, "api-docs")
    found += violations(page)

    # The playground: run, follow the prediction live over the websocket.
    page.goto(f"/alice/{model.name}")
    page.fill("textarea[name=text], input[name=text]", "policy")
    page.click("#playground-form button[type=submit]")
    page.wait_for_function(
        "() => document.querySelector('.status-succeeded') !== null", timeout=120000
    )
    found += violations(page)
    prediction = page.locator("#playground-output a.pred-open").first.get_attribute("href")
    page.goto(prediction)
    page.wait_for_load_state("networkidle")
    screens(page, "prediction")
    found += violations(page)

    assert found == []
    policy_errors = [e for e in errors if re.search("Content.Security.Policy", e, re.I)]
    assert policy_errors == []
    header = httpx.get(f"{platform.url}/").headers["Content-Security-Policy"]
    assert "script-src 'self'" in header and "unsafe-inline" not in header
