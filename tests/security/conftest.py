"""The world the security tests probe, and the tools they probe it with.

Everything private carries the marker HUSH in its name, description or content, so a page or
an API answer that outsiders and anonymous visitors get can be searched for it.
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest
from django.apps import apps as django_apps
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import Client
from django.utils import timezone

from apps.accounts.models import Account, ApiToken
from apps.billing import invoices
from apps.billing.models import Hardware, month_of
from apps.catalog.models import Collection, Model, Version
from apps.core.redis import client as redis_client
from apps.deployments import services as deployment_services
from apps.files.models import File
from apps.files.services import file_create, file_download_path
from apps.predictions.models import Prediction
from apps.predictions.sse import stream_path
from apps.runtime import schema
from tests.catalog.factories import SCHEMA
from tests.conftest import Cast

HUSH = "hush"
ROLES = ("owner", "member", "outsider", "anonymous")

# Fields that change on reads by design: the token's last use, the user's last login.
VOLATILE_FIELDS = {"last_used_at", "last_login"}
OUR_APPS = {"accounts", "catalog", "predictions", "files", "billing", "deployments"}


@dataclass
class World:
    cast: Cast
    private: Model  # acme/hush-model: private, one version, a README
    public: Model  # acme/open-model: public, one version, an example prediction
    empty: Model  # acme/hush-empty: private, no versions (deletable)
    private_version: Version
    public_version: Version
    prediction: Prediction  # acme's private prediction on the private model, waiting
    shared: Prediction  # acme's shared prediction on the public model, waiting
    example: Prediction  # an example prediction of the public model, finished
    acme_token: ApiToken  # the organization's token (the cast's `acme ci`)
    alice_token: ApiToken  # alice's personal token
    file: File  # uploaded by acme
    collection: Collection
    output_path: str  # a prediction output under /media/
    extra: dict = field(default_factory=dict)

    @property
    def acme(self):
        return self.cast.acme

    def person(self, role: str):
        """The person who plays `role` on the web (alice owns acme, bob is a member)."""
        return {"owner": self.cast.alice, "member": self.cast.bob, "outsider": self.cast.charlie}[
            role
        ]

    def api_token(self, role: str) -> str | None:
        """The API token that plays `role` for acme's things: acme's own token is the owner."""
        return {
            "owner": self.cast.acme_token,
            "member": self.cast.bob.token,
            "outsider": self.cast.charlie.token,
            "anonymous": None,
        }[role]

    def webhook_secret(self, account_name: str) -> str:
        return Account.objects.get(name=account_name).webhook_secret

    def file_download(self) -> str:
        return file_download_path(self.file)

    def stream(self, prediction: Prediction) -> str:
        return stream_path(prediction.id)


def make_model(owner: Account, name: str, visibility: str, **fields) -> Model:
    return Model.objects.create(owner=owner, name=name, visibility=visibility, **fields)


def make_version(model: Model, digest: str, schema: dict = SCHEMA) -> Version:
    version = Version.objects.create(
        model=model,
        digest=digest,
        openapi_schema=schema,
        cog_version="0.23.1",
        predictor_ref="predict.py:Predictor",
    )
    model.refresh_latest_version()
    return version


@pytest.fixture
def world(cast, settings, tmp_path) -> World:
    settings.MEDIA_ROOT = tmp_path / "media"
    acme = cast.acme.account
    private = make_model(
        acme,
        "hush-model",
        "private",
        description="hush widget",
        readme="# The hush README\n\nhush details",
    )
    public = make_model(
        acme, "open-model", "public", description="open widget", readme="# Open README"
    )
    empty = make_model(acme, "hush-empty", "private", description="hush nothing yet")
    private_version = make_version(private, "a" * 64)
    private_version.artifact.save(
        f"{private.pk}-{private_version.digest}.tar.gz", ContentFile(b"hush archive")
    )
    public_version = make_version(public, "b" * 64)
    prediction = Prediction.objects.create(
        owner=acme,
        model=private,
        version=private_version,
        input={"prompt": "hush prompt"},
        created_by=cast.alice.user,
    )
    shared = Prediction.objects.create(
        owner=acme,
        model=public,
        version=public_version,
        input={"prompt": "shared prompt"},
        is_shared=True,
        created_by=cast.alice.user,
    )
    example = Prediction.objects.create(
        owner=acme,
        model=public,
        version=public_version,
        input={"prompt": "example prompt"},
        output="example output",
        status="succeeded",
        is_example=True,
    )
    private_on_public = Prediction.objects.create(
        owner=acme,
        model=public,
        version=public_version,
        input={"prompt": "hush prompt on a public model"},
        output="hush output",
        status="succeeded",
        created_by=cast.bob.user,
    )
    shared_done = Prediction.objects.create(
        owner=acme,
        model=public,
        version=public_version,
        input={"prompt": "shared prompt"},
        output="shared output",
        status="succeeded",
        is_shared=True,
        created_by=cast.alice.user,
    )
    output_path = default_storage.save(
        f"predictions/{example.id}/output.txt", ContentFile(b"example output")
    )
    file = file_create(
        owner=acme,
        content=ContentFile(b"hush file content", name="hush.txt"),
        name="hush.txt",
        content_type="text/plain",
        metadata={"hush": True},
    )
    # acme/hush-deploy: a deployment of acme/hush-deployed (private, one version), release 1,
    # nothing online.
    deployed = make_model(acme, "hush-deployed", "private", description="hush deployed")
    deployed_version = make_version(deployed, "e" * 64)
    deployment = deployment_services.deployment_create(
        owner=acme,
        name="hush-deploy",
        model=deployed,
        config=deployment_services.check_config(
            deployed_version, Hardware.objects.get(sku="cpu"), 0, 1
        ),
        by=acme,
        user=cast.alice.user,
    )
    # acme/hush-trainer: private and trainable (train() takes SCHEMA's inputs); acme's
    # training of it into acme/hush-model, waiting.
    trainer = make_model(acme, "hush-trainer", "private", description="hush trainer")
    trainable = {"TrainingInput": SCHEMA["components"]["schemas"]["Input"], "TrainingOutput": {}}
    trainer_version = make_version(
        trainer,
        "f" * 64,
        schema.with_training(
            SCHEMA, {"paths": {"/trainings": {}}, "components": {"schemas": trainable}}
        ),
    )
    trainer_version.config = {"train": "train.py:train"}
    trainer_version.save()
    training = Prediction.objects.create(
        owner=acme,
        model=trainer,
        version=trainer_version,
        input={"prompt": "hush training input"},
        kind=Prediction.Kind.TRAINING,
        destination=private,
        created_by=cast.alice.user,
    )
    collection = Collection.objects.create(slug="widgets", name="Widgets", description="Widgets")
    collection.models.add(private, public)
    # acme's draft invoice for this month (a money page: owners only).
    invoice = invoices.build(acme, month_of(timezone.now()))
    for account in Account.objects.all():
        account.webhook_signing_secret()  # made on first use: make it now, before snapshots
    return World(
        cast=cast,
        private=private,
        public=public,
        empty=empty,
        private_version=private_version,
        public_version=public_version,
        prediction=prediction,
        shared=shared,
        example=example,
        acme_token=ApiToken.objects.get(account=acme),
        alice_token=ApiToken.objects.get(account=cast.alice.user.account),
        file=file,
        collection=collection,
        output_path=output_path,
        extra={
            "private_on_public": private_on_public,
            "shared_done": shared_done,
            "deployment": deployment,
            "invoice": invoice,
            "trainer": trainer_version,
            "training": training,
        },
    )


@pytest.fixture(autouse=True)
def fresh_rate_limits():
    """Account ids repeat between tests: start every test with untouched rate limits."""
    redis = redis_client()
    for key in redis.scan_iter("selfrep:ratelimit:*"):
        redis.delete(key)


def db_state() -> dict[str, list[str]]:
    """Every row of every table of ours (and the many-to-many tables), for before/after
    comparisons: a refused request must leave all of it as it was."""
    state = {}
    for model in django_apps.get_models(include_auto_created=True):
        if model._meta.app_label not in OUR_APPS:
            continue
        fields = [
            f.attname for f in model._meta.concrete_fields if f.attname not in VOLATILE_FIELDS
        ]
        state[model._meta.label] = sorted(
            repr(row) for row in model.objects.order_by().values_list(*fields)
        )
    return state


def diff_states(before: dict, after: dict) -> list[str]:
    changes = []
    for label in sorted(set(before) | set(after)):
        old, new = set(before.get(label, [])), set(after.get(label, []))
        changes += [f"{label}: - {row}" for row in sorted(old - new)]
        changes += [f"{label}: + {row}" for row in sorted(new - old)]
    return changes


def client_as(world: World, role: str, **options) -> Client:
    """A fresh test client with `role`'s session (none for anonymous)."""
    client = Client(**options)
    if role != "anonymous":
        client.force_login(world.person(role).user)
    return client


# A real HTTP server on the loopback interface, which counts what reaches it.


@dataclass
class LocalServer:
    url: str
    requests: list[tuple[str, str]]
    respond: Callable[[http.server.BaseHTTPRequestHandler], None]


@pytest.fixture
def local_server() -> Iterator[LocalServer]:
    requests: list[tuple[str, str]] = []

    def default(handler):
        body = b"hello"
        handler.send_response(200)
        handler.send_header("Content-Type", "text/plain")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    state = LocalServer(url="", requests=requests, respond=default)

    class Handler(http.server.BaseHTTPRequestHandler):
        def _any(self):
            requests.append((self.command, self.path))
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            state.respond(self)

        do_GET = do_POST = do_PUT = do_HEAD = _any

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
