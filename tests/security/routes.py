"""The authorization matrix: every route of the site, how to call it, and what each role gets.

The keys are the routes as `test_authorization.enumerate_routes()` finds them in the URL
configuration: the URL name (with its namespace, `v1:` for the API) where the route has one,
else its pattern; `ws:<pattern>` for websocket routes; `admin/` for the whole admin site.
A route missing here fails `test_every_route_has_a_matrix_entry`.

Each entry lists requests; each request says what the owner, an organization member, an
outsider and an anonymous visitor get, in that order (see ROLES):
- on the API (`/v1`), the owner is acme's own token, the member bob's token, the outsider
  charlie's token, and the anonymous visitor sends none;
- on pages, the owner is alice (owner of acme), the member bob, the outsider charlie, each
  with a session, and the anonymous visitor has none.
An expectation is a status code, LOGIN (a redirect to the login page), ADMIN_LOGIN (to the
admin's), or for websockets OPEN or the close code. The things in the world (tests/security/
conftest.py) belong to acme unless said otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib import admin
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.security.conftest import ROLES

LOGIN = "login"
ADMIN_LOGIN = "admin-login"
OPEN = "open"
ALL = ROLES
OUTSIDERS = ("outsider", "anonymous")


def E(owner, member, outsider, anonymous) -> tuple:
    """One row of the table, in the order of ROLES."""
    return (owner, member, outsider, anonymous)


def P(template: str) -> Callable[[Any], str]:
    """A path from a template over the world: P("/{w.private.full_name}/readme")."""
    return lambda w: template.format(w=w)


@dataclass(frozen=True)
class Req:
    method: str
    path: Callable[[Any], str]
    expect: tuple
    label: str = ""
    # Form fields (pages, multipart API) or a JSON body (`json=True`); a callable gets the world.
    data: Any = None
    json: bool = False
    content_type: str | None = None
    # Roles for which the database must not change although the status is not a refusal.
    unchanged_for: tuple[str, ...] = ()
    # Roles whose 4xx answer may still change the database (a known, harmless leftover).
    changes_ok_for: tuple[str, ...] = ()
    # Whether API errors must be application/problem+json.
    problem: bool = True
    # Roles that must not find HUSH (private things) in the response body.
    no_hush_for: tuple[str, ...] = OUTSIDERS
    # A secret of the owner (a callable over the world) no other role may receive.
    owner_secret: Callable[[Any], str] | None = None
    # Websocket requests are connections, not HTTP requests.
    websocket: bool = False


def GET(path, expect, label="", **kw) -> Req:
    return Req("GET", path, expect, label, **kw)


def POST(path, expect, label="", **kw) -> Req:
    return Req("POST", path, expect, label, **kw)


def PATCH(path, expect, label="", **kw) -> Req:
    return Req("PATCH", path, expect, label, json=True, **kw)


def DELETE(path, expect, label="", **kw) -> Req:
    return Req("DELETE", path, expect, label, **kw)


def WS(path, expect, label="") -> Req:
    return Req("WS", path, expect, label, websocket=True)


def _archive(_w):
    return {"archive": SimpleUploadedFile("model.tar.gz", b"not an archive")}


def _upload(_w):
    return {"content": SimpleUploadedFile("hello.txt", b"hello")}


RUN_INPUT = {"prompt": "run it", "steps": "2"}
API_INPUT = {"input": {"prompt": "run it"}}
SETTINGS_FORM = {
    "description": "changed",
    "visibility": "private",
    "default_hardware": "",
    "github_url": "",
    "paper_url": "",
    "license_url": "",
    "readme": "changed",
}

DEPLOYMENT_FORM = {
    "owner": "acme",
    "name": "new-deploy",
    "model": "acme/hush-deployed",
    "version": "",
    "hardware": "cpu",
    "min_instances": "0",
    "max_instances": "1",
}
DEPLOYMENT_API = {
    "owner": "acme",
    "name": "new-deploy",
    "model": "acme/hush-deployed",
    "hardware": "cpu",
    "min_instances": 0,
    "max_instances": 1,
}
DEPLOYMENT_SETTINGS = {
    "version": "e" * 64,
    "hardware": "cpu",
    "min_instances": "0",
    "max_instances": "2",
}

API = {
    # The stream URL is a capability: whoever holds it reads the stream, without a token
    # (browsers' EventSource sends none). It is handed out only with the prediction (the API
    # answers the owner's token alone; see v1:prediction_get).
    "prediction_stream": [
        GET(lambda w: w.stream(w.example), E(200, 200, 200, 200), "signed"),
        GET(
            lambda w: w.stream(w.extra["private_on_public"]),
            E(200, 200, 200, 200),
            "signed, private",
            no_hush_for=(),
        ),
        GET(lambda w: w.stream(w.extra["shared_done"]), E(200, 200, 200, 200), "signed, shared"),
        GET(P("/v1/streams/forged-token"), E(404, 404, 404, 404), "forged"),
    ],
    "v1:openapi-json": [GET(P("/v1/openapi.json"), E(200, 200, 200, 200))],
    "v1:openapi-view": [GET(P("/v1/docs"), E(200, 200, 200, 200))],
    # The bare prefix is answered by our problem+json 404 before django-ninja's root view.
    "v1/": [GET(P("/v1/"), E(404, 404, 404, 404))],
    "v1:api-root": [GET(P("/v1/"), E(404, 404, 404, 404))],
    "^v1/.*$": [
        GET(P("/v1/nothing-here"), E(404, 404, 404, 404)),
        POST(P("/v1/nothing-here"), E(404, 404, 404, 404)),
    ],
    "v1:account_get": [GET(P("/v1/account"), E(200, 200, 200, 401))],
    # Each token reads its own account's ledger: nobody can name another account.
    "v1:account_usage": [GET(P("/v1/account/usage"), E(200, 200, 200, 401))],
    "v1:model_list": [GET(P("/v1/models"), E(200, 200, 200, 401))],
    "v1:model_search_query": [
        Req(
            "QUERY",
            P("/v1/models"),
            E(200, 200, 200, 401),
            data="widget",
            content_type="text/plain",
        )
    ],
    "v1:model_create_endpoint": [
        POST(
            P("/v1/models"),
            E(201, 201, 403, 401),
            "for acme",
            data={"owner": "acme", "name": "new-one", "visibility": "private", "hardware": "cpu"},
            json=True,
        ),
        POST(
            P("/v1/models"),
            E(403, 403, 201, 401),
            "for charlie",
            data={
                "owner": "charlie",
                "name": "new-one",
                "visibility": "private",
                "hardware": "cpu",
            },
            json=True,
        ),
    ],
    "v1:model_get": [
        GET(P("/v1/models/{w.private.full_name}"), E(200, 200, 404, 401), "private"),
        GET(P("/v1/models/{w.public.full_name}"), E(200, 200, 200, 401), "public"),
    ],
    "v1:model_update": [
        PATCH(
            P("/v1/models/{w.private.full_name}"),
            E(200, 200, 404, 401),
            "private",
            data={"description": "changed"},
        ),
        PATCH(
            P("/v1/models/{w.public.full_name}"),
            E(200, 200, 403, 401),
            "public",
            data={"description": "changed"},
        ),
    ],
    "v1:model_delete": [
        DELETE(P("/v1/models/{w.empty.full_name}"), E(204, 204, 404, 401), "private"),
        DELETE(P("/v1/models/{w.public.full_name}"), E(409, 409, 403, 401), "public"),
    ],
    "v1:model_readme": [
        GET(P("/v1/models/{w.private.full_name}/readme"), E(200, 200, 404, 401), "private")
    ],
    "v1:model_examples": [
        GET(P("/v1/models/{w.private.full_name}/examples"), E(200, 200, 404, 401), "private")
    ],
    "v1:version_push": [
        POST(
            P("/v1/models/{w.private.full_name}/versions"),
            E(422, 422, 404, 401),
            "private",
            data=_archive,
        ),
        POST(
            P("/v1/models/{w.public.full_name}/versions"),
            E(422, 422, 403, 401),
            "public",
            data=_archive,
        ),
        # A failed push to a new name leaves the (empty, private) model it created (reported).
        POST(
            P("/v1/models/acme/brand-new/versions"),
            E(422, 422, 404, 401),
            "new",
            data=_archive,
            changes_ok_for=("owner", "member"),
        ),
    ],
    "v1:version_list": [
        GET(P("/v1/models/{w.private.full_name}/versions"), E(200, 200, 404, 401), "private")
    ],
    "v1:version_get": [
        GET(
            P("/v1/models/{w.private.full_name}/versions/{w.private_version.digest}"),
            E(200, 200, 404, 401),
            "private",
        )
    ],
    "v1:version_delete": [
        DELETE(
            P("/v1/models/{w.private.full_name}/versions/{w.private_version.digest}"),
            E(204, 204, 404, 401),
            "private",
        ),
        DELETE(
            P("/v1/models/{w.public.full_name}/versions/{w.public_version.digest}"),
            E(409, 409, 403, 401),
            "public",
        ),
        DELETE(
            P("/v1/models/acme/hush-deployed/versions/" + "e" * 64),
            E(409, 409, 404, 401),
            "deployed",
        ),
    ],
    "v1:collection_list": [GET(P("/v1/collections"), E(200, 200, 200, 401))],
    "v1:collection_get": [
        GET(P("/v1/collections/{w.collection.slug}"), E(200, 200, 200, 401)),
    ],
    "v1:hardware_list": [GET(P("/v1/hardware"), E(200, 200, 200, 401))],
    "v1:search": [GET(P("/v1/search?query=widget"), E(200, 200, 200, 401))],
    "v1:prediction_create": [
        POST(
            P("/v1/predictions"),
            E(201, 201, 422, 401),
            "private by name",
            data={"version": "acme/hush-model", **API_INPUT},
            json=True,
        ),
        POST(
            P("/v1/predictions"),
            E(201, 201, 422, 401),
            "private by id",
            data={"version": "a" * 64, **API_INPUT},
            json=True,
        ),
    ],
    "v1:prediction_list": [GET(P("/v1/predictions"), E(200, 200, 200, 401))],
    "v1:model_prediction_create": [
        POST(
            P("/v1/models/{w.private.full_name}/predictions"),
            E(201, 201, 404, 401),
            "private",
            data=API_INPUT,
            json=True,
        ),
    ],
    "v1:prediction_get": [
        GET(P("/v1/predictions/{w.prediction.id}"), E(200, 404, 404, 401), "private"),
        GET(P("/v1/predictions/{w.shared.id}"), E(200, 404, 404, 401), "shared"),
        GET(P("/v1/predictions/{w.example.id}"), E(200, 404, 404, 401), "example"),
    ],
    "v1:prediction_cancel": [
        POST(P("/v1/predictions/{w.prediction.id}/cancel"), E(200, 404, 404, 401)),
    ],
    "v1:training_create": [
        POST(
            P("/v1/models/acme/hush-trainer/versions/{w.extra[trainer].digest}/trainings"),
            E(201, 201, 404, 401),
            "private, into acme's model",
            data={"destination": "acme/hush-model", **API_INPUT},
            json=True,
        ),
        POST(
            P("/v1/models/acme/hush-trainer/versions/{w.extra[trainer].digest}/trainings"),
            E(404, 404, 404, 401),
            "into a model of someone else",
            data={"destination": "charlie/none", **API_INPUT},
            json=True,
        ),
    ],
    "v1:training_list": [GET(P("/v1/trainings"), E(200, 200, 200, 401))],
    "v1:training_get": [
        GET(P("/v1/trainings/{w.extra[training].id}"), E(200, 404, 404, 401), "private"),
        GET(P("/v1/trainings/{w.prediction.id}"), E(404, 404, 404, 401), "a prediction"),
    ],
    "v1:training_cancel": [
        POST(P("/v1/trainings/{w.extra[training].id}/cancel"), E(200, 404, 404, 401)),
    ],
    "v1:file_create_view": [POST(P("/v1/files"), E(201, 201, 201, 401), data=_upload)],
    "v1:file_list_view": [GET(P("/v1/files"), E(200, 200, 200, 401))],
    "v1:file_get_view": [GET(P("/v1/files/{w.file.id}"), E(200, 404, 404, 401))],
    "v1:file_delete_view": [DELETE(P("/v1/files/{w.file.id}"), E(204, 404, 404, 401))],
    "v1:file_download": [
        GET(lambda w: w.file_download(), E(200, 200, 200, 200), "signed", no_hush_for=()),
        GET(
            lambda w: w.file_download().replace("signature=", "signature=0"),
            E(404, 404, 404, 404),
            "forged",
        ),
    ],
    # Deployments answer the tokens of the owning account and of its members' users only.
    "v1:deployment_list": [GET(P("/v1/deployments"), E(200, 200, 200, 401))],
    "v1:deployment_create": [
        POST(
            P("/v1/deployments"),
            E(200, 200, 422, 401),
            "for acme",
            data=DEPLOYMENT_API,
            json=True,
        ),
    ],
    "v1:deployment_get": [
        GET(P("/v1/deployments/{w.extra[deployment].full_name}"), E(200, 200, 404, 401)),
    ],
    "v1:deployment_update": [
        PATCH(
            P("/v1/deployments/{w.extra[deployment].full_name}"),
            E(200, 200, 404, 401),
            data={"max_instances": 3},
        ),
    ],
    "v1:deployment_delete": [
        DELETE(P("/v1/deployments/{w.extra[deployment].full_name}"), E(204, 204, 404, 401)),
    ],
    "v1:deployment_prediction_create": [
        POST(
            P("/v1/deployments/{w.extra[deployment].full_name}/predictions"),
            E(201, 201, 404, 401),
            data=API_INPUT,
            json=True,
        ),
    ],
    "v1:webhooks_default_secret": [
        GET(
            P("/v1/webhooks/default/secret"),
            E(200, 200, 200, 401),
            owner_secret=lambda w: w.webhook_secret("acme"),
        )
    ],
}

PAGES = {
    "healthz": [GET(P("/healthz"), E(200, 200, 200, 200))],
    "media": [
        GET(P("/media/{w.output_path}"), E(200, 200, 200, 200), "output"),
        GET(P("/media/{w.file.content.name}"), E(404, 404, 404, 404), "uploaded file"),
        GET(
            P("/media/{w.private_version.artifact.name}"),
            E(404, 404, 404, 404),
            "version archive",
        ),
        # The same files by other spellings of their names (these used to be served).
        GET(
            P("/media/./{w.private_version.artifact.name}"),
            E(404, 404, 404, 404),
            "version archive ./",
        ),
        GET(
            P("/media/%2e/{w.private_version.artifact.name}"),
            E(404, 404, 404, 404),
            "version archive %2e",
        ),
        GET(
            P("/media//{w.private_version.artifact.name}"),
            E(404, 404, 404, 404),
            "version archive //",
        ),
        GET(P("/media/./{w.file.content.name}"), E(404, 404, 404, 404), "uploaded file ./"),
    ],
    "home": [GET(P("/"), E(200, 200, 200, 200))],
    "signup": [
        GET(P("/signup/"), E(302, 302, 302, 200)),
        POST(
            P("/signup/"),
            E(302, 302, 302, 302),
            data={
                "username": "newcomer",
                "password1": "a long pass 123",
                "password2": "a long pass 123",
            },
            unchanged_for=("owner", "member", "outsider"),
        ),
    ],
    "login": [
        GET(P("/login/"), E(302, 302, 302, 200)),
        POST(
            P("/login/"),
            E(302, 302, 302, 302),
            data={"username": "alice", "password": "correct horse battery staple"},
            unchanged_for=("owner", "member", "outsider"),
        ),
    ],
    "logout": [
        GET(P("/logout/"), E(405, 405, 405, 405)),
        POST(P("/logout/"), E(302, 302, 302, 302)),
    ],
    "password_change": [
        GET(P("/account/password/"), E(200, 200, 200, LOGIN)),
        POST(
            P("/account/password/"),
            E(200, 200, 200, LOGIN),
            "wrong old password",
            data={
                "old_password": "wrong",
                "new_password1": "x1y2z3w4v5",
                "new_password2": "x1y2z3w4v5",
            },
            unchanged_for=ALL,
        ),
    ],
    "password_change_done": [GET(P("/account/password/done/"), E(200, 200, 200, LOGIN))],
    "account": [
        GET(P("/account/"), E(200, 200, 200, LOGIN)),
        POST(P("/account/"), E(302, 302, 302, LOGIN), data={"name": "New Name", "email": ""}),
    ],
    "account_context": [
        POST(P("/account/context/"), E(302, 302, 404, LOGIN), data={"account": "acme"}),
    ],
    "webhook_secret": [
        POST(
            P("/account/webhook-secret/"),
            E(200, 200, 200, LOGIN),
            owner_secret=lambda w: w.webhook_secret("alice"),
        )
    ],
    "token_create": [POST(P("/account/tokens/"), E(200, 200, 200, LOGIN), data={"name": "new"})],
    "token_revoke": [
        POST(P("/account/tokens/{w.alice_token.pk}/revoke/"), E(302, 404, 404, LOGIN), "alice's"),
        POST(P("/account/tokens/{w.acme_token.pk}/revoke/"), E(404, 404, 404, LOGIN), "acme's"),
    ],
    "organizations": [
        GET(P("/organizations/"), E(200, 200, 200, LOGIN)),
        POST(
            P("/organizations/"),
            E(302, 302, 302, LOGIN),
            data={"name": "neworg", "display_name": "New"},
        ),
    ],
    "organization": [
        GET(P("/organizations/acme/"), E(200, 200, 404, LOGIN)),
        POST(
            P("/organizations/acme/"),
            E(302, 403, 404, LOGIN),
            data={"display_name": "Renamed", "github_url": ""},
        ),
    ],
    "member_add": [
        POST(
            P("/organizations/acme/members/"),
            E(302, 403, 404, LOGIN),
            data={"username": "charlie", "role": "member"},
        )
    ],
    "member_role": [
        POST(
            P("/organizations/acme/members/bob/role/"),
            E(302, 403, 404, LOGIN),
            data={"role": "owner"},
        )
    ],
    "member_remove": [POST(P("/organizations/acme/members/bob/remove/"), E(302, 403, 404, LOGIN))],
    "organization_leave": [
        # alice is the last owner: she is told so, and stays.
        POST(P("/organizations/acme/leave/"), E(302, 302, 404, LOGIN), unchanged_for=("owner",))
    ],
    "organization_webhook_secret": [
        POST(
            P("/organizations/acme/webhook-secret/"),
            E(200, 403, 404, LOGIN),
            owner_secret=lambda w: w.webhook_secret("acme"),
        )
    ],
    "organization_token_create": [
        POST(P("/organizations/acme/tokens/"), E(200, 403, 404, LOGIN), data={"name": "new"})
    ],
    "organization_token_revoke": [
        POST(
            P("/organizations/acme/tokens/{w.acme_token.pk}/revoke/"),
            E(302, 403, 404, LOGIN),
            "acme's",
        ),
        POST(
            P("/organizations/acme/tokens/{w.alice_token.pk}/revoke/"),
            E(404, 403, 404, LOGIN),
            "alice's",
        ),
    ],
    "avatar": [GET(P("/avatars/acme.svg"), E(200, 200, 200, 200))],
    "explore": [GET(P("/explore?query=widget"), E(200, 200, 200, 200))],
    "collections": [GET(P("/collections"), E(200, 200, 200, 200))],
    "collection": [GET(P("/collections/{w.collection.slug}"), E(200, 200, 200, 200))],
    "dashboard": [
        GET(P("/dashboard"), E(200, 200, 200, LOGIN), "own"),
        GET(P("/dashboard?account=acme"), E(200, 200, 404, LOGIN), "acme's"),
    ],
    # Money pages: an account's owners only; an organization's other members get a 403,
    # everyone else a 404. Everyone sees their own, and the price list is public.
    "usage": [
        GET(P("/account/usage"), E(200, 200, 200, LOGIN), "own"),
        GET(P("/account/usage?account=acme"), E(200, 403, 404, LOGIN), "acme's"),
        GET(P("/account/usage?account=acme&format=csv"), E(200, 403, 404, LOGIN), "acme's CSV"),
    ],
    "billing": [
        GET(P("/account/billing"), E(200, 200, 200, LOGIN), "own"),
        GET(P("/account/billing?account=acme"), E(200, 403, 404, LOGIN), "acme's"),
        POST(
            P("/account/billing?account=acme"),
            E(302, 403, 404, LOGIN),
            "acme's limit",
            data={"spend_limit": "25"},
        ),
    ],
    "invoice_draft": [
        POST(
            P("/account/billing/invoices/draft"),
            E(302, 403, 404, LOGIN),
            "acme's",
            data={"account": "acme"},
        ),
    ],
    "invoice": [
        GET(P("/account/billing/invoices/{w.extra[invoice].number}"), E(200, 403, 404, LOGIN)),
    ],
    "pricing": [GET(P("/pricing"), E(200, 200, 200, 200))],
    # Deployment pages: members of the owning account only; everyone else gets a 404.
    "deployments": [
        GET(P("/deployments"), E(200, 200, 200, LOGIN), "own"),
        GET(P("/deployments?account=acme"), E(200, 200, 404, LOGIN), "acme's"),
        GET(P("/deployments?all=1"), E(200, 200, 200, LOGIN), "all"),
    ],
    "deployment_create": [
        # The form repeats the link's ?model= (the visitor's own words), nothing more.
        GET(
            P("/deployments/create?model=acme/hush-deployed"),
            E(200, 200, 200, LOGIN),
            no_hush_for=(),
        ),
        GET(P("/deployments/create"), E(200, 200, 200, LOGIN), "empty"),
        POST(P("/deployments/create"), E(302, 302, 422, LOGIN), "for acme", data=DEPLOYMENT_FORM),
        POST(
            P("/deployments/create"),
            E(422, 422, 422, LOGIN),
            "for charlie, of acme's private model",
            data={**DEPLOYMENT_FORM, "owner": "charlie"},
        ),
    ],
    "deployment_estimate": [
        GET(
            P("/deployments/estimate?hardware=cpu&min_instances=0&max_instances=2"),
            E(200, 200, 200, LOGIN),
        )
    ],
    "deployment": [
        GET(P("/deployments/{w.extra[deployment].full_name}"), E(200, 200, 404, LOGIN)),
        GET(P("/deployments/{w.extra[deployment].full_name}?window=day"), E(200, 200, 404, LOGIN)),
    ],
    "deployment_instances": [
        GET(P("/deployments/{w.extra[deployment].full_name}/instances"), E(200, 200, 404, LOGIN)),
    ],
    "deployment_run": [
        POST(
            P("/deployments/{w.extra[deployment].full_name}/predictions"),
            E(302, 302, 404, LOGIN),
            data=RUN_INPUT,
        ),
    ],
    "deployment_settings": [
        POST(
            P("/deployments/{w.extra[deployment].full_name}/settings"),
            E(302, 302, 404, LOGIN),
            data=DEPLOYMENT_SETTINGS,
        ),
    ],
    "deployment_rollback": [
        POST(
            P("/deployments/{w.extra[deployment].full_name}/rollback"),
            E(302, 302, 404, LOGIN),
            data={"number": "1"},
        ),
    ],
    "deployment_disable": [
        POST(
            P("/deployments/{w.extra[deployment].full_name}/disable"),
            E(302, 302, 404, LOGIN),
            data={"disabled": "1"},
        ),
    ],
    "deployment_delete": [
        POST(P("/deployments/{w.extra[deployment].full_name}/delete"), E(302, 302, 404, LOGIN)),
    ],
    "prediction_detail": [
        GET(P("/p/{w.prediction.id}"), E(200, 200, 404, 404), "private"),
        GET(P("/p/{w.shared.id}"), E(200, 200, 200, 200), "shared"),
        GET(P("/p/{w.example.id}"), E(200, 200, 200, 200), "example"),
    ],
    "prediction_cancel": [
        POST(P("/p/{w.prediction.id}/cancel"), E(302, 302, 404, 404), "private"),
        POST(P("/p/{w.shared.id}/cancel"), E(302, 302, 403, 403), "shared"),
    ],
    "prediction_share": [
        POST(P("/p/{w.prediction.id}/share"), E(302, 302, 404, 404), "private"),
        POST(P("/p/{w.shared.id}/share"), E(302, 302, 403, 403), "shared"),
    ],
    "playground_run": [
        POST(
            P("/{w.private.full_name}/predictions"),
            E(302, 302, 404, LOGIN),
            "private",
            data=RUN_INPUT,
        ),
        POST(
            P("/{w.public.full_name}/predictions"),
            E(302, 302, 302, LOGIN),
            "public",
            data=RUN_INPUT,
        ),
    ],
    "model": [
        GET(P("/{w.private.full_name}"), E(200, 200, 404, 404), "private"),
        GET(P("/{w.public.full_name}"), E(200, 200, 200, 200), "public"),
        GET(
            P("/{w.public.full_name}?prediction={w.extra[private_on_public].id}"),
            E(200, 200, 404, 404),
            "public with a private prediction",
        ),
        GET(
            P("/{w.public.full_name}?prediction={w.shared.id}"),
            E(200, 200, 200, 200),
            "public with a shared prediction",
        ),
        GET(
            P("/{w.public.full_name}?prediction={w.example.id}"),
            E(200, 200, 200, 200),
            "public with its example",
        ),
    ],
    "model_api": [
        GET(P("/{w.private.full_name}/api"), E(200, 200, 404, 404), "private"),
        GET(
            P("/{w.public.full_name}/api?prediction={w.extra[private_on_public].id}"),
            E(200, 200, 404, 404),
            "public with a private prediction",
        ),
    ],
    "model_api_language": [
        GET(P("/{w.private.full_name}/api/node"), E(200, 200, 404, 404), "private"),
    ],
    "model_examples": [
        GET(P("/{w.private.full_name}/examples"), E(200, 200, 404, 404), "private"),
        GET(P("/{w.public.full_name}/examples"), E(200, 200, 200, 200), "public"),
    ],
    "model_train": [
        GET(P("/acme/hush-trainer/train"), E(200, 200, 404, 404), "private"),
        POST(
            P("/acme/hush-trainer/train"),
            E(302, 302, 404, 404),
            "private, into acme's model",
            data={**RUN_INPUT, "training-destination": "acme/hush-model"},
        ),
    ],
    "model_readme": [
        GET(P("/{w.private.full_name}/readme"), E(200, 200, 404, 404), "private"),
    ],
    "model_versions": [
        GET(P("/{w.private.full_name}/versions"), E(200, 200, 404, 404), "private"),
    ],
    "version": [
        GET(
            P("/{w.private.full_name}/versions/{w.private_version.digest}"),
            E(200, 200, 404, 404),
            "private",
        ),
    ],
    "model_settings": [
        GET(P("/{w.private.full_name}/settings"), E(200, 200, 404, 404), "private"),
        GET(P("/{w.public.full_name}/settings"), E(200, 200, 403, 403), "public"),
        POST(
            P("/{w.private.full_name}/settings"),
            E(302, 302, 404, 404),
            "private",
            data=SETTINGS_FORM,
        ),
        POST(
            P("/{w.public.full_name}/settings"), E(302, 302, 403, 403), "public", data=SETTINGS_FORM
        ),
    ],
    "model_push": [
        POST(
            P("/{w.private.full_name}/settings/push"),
            E(422, 422, 404, 404),
            "private",
            data=_archive,
        ),
        POST(
            P("/{w.public.full_name}/settings/push"), E(422, 422, 403, 403), "public", data=_archive
        ),
    ],
}

WEBSOCKETS = {
    # Whoever sees the prediction page may follow it live: the same rule, the same answers.
    "ws:ws/predictions/<str:prediction_id>/": [
        WS(P("/ws/predictions/{w.prediction.id}/"), E(OPEN, OPEN, 4404, 4404), "private"),
        WS(P("/ws/predictions/{w.shared.id}/"), E(OPEN, OPEN, OPEN, OPEN), "shared"),
        WS(P("/ws/predictions/{w.example.id}/"), E(OPEN, OPEN, OPEN, OPEN), "example"),
    ],
}


def _admin_requests() -> list[Req]:
    """One look at each admin model's list and one attempt to delete its first object: every
    role here is non-staff, so the admin sends them all to its login page."""
    requests = []
    for model in sorted(admin.site._registry, key=lambda m: m._meta.label):
        base = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        requests.append(GET(P(base), (ADMIN_LOGIN,) * 4, model._meta.label))
        requests.append(
            POST(
                lambda w, base=base, model=model: (
                    f"{base}{model.objects.order_by('pk').values_list('pk', flat=True).first()}"
                    "/delete/"
                ),
                (ADMIN_LOGIN,) * 4,
                f"{model._meta.label} delete",
                data={"post": "yes"},
            )
        )
    return requests


ADMIN = {"admin/": _admin_requests()}

MATRIX: dict[str, list[Req]] = {**API, **PAGES, **WEBSOCKETS, **ADMIN}
