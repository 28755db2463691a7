"""Print the Kubernetes manifests of a deployment's instances: a Deployment running the
platform image as a worker of the deployment's queue, and a KEDA ScaledObject that scales it
on that queue's length (platform/k8s/deployment-instance.yaml.tmpl, docs/deployments.md)."""

from __future__ import annotations

import hashlib
import json
import math
import re
from urllib.parse import parse_qs, unquote, urlsplit

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.template import Context, Engine

from apps.core.queue import broker
from apps.deployments.models import Deployment

TEMPLATE = settings.BASE_DIR / "platform" / "k8s" / "deployment-instance.yaml.tmpl"
DEFAULT_IMAGE = "selfrep:latest"  # as in platform/k8s/app.yaml
NAME_PREFIX = "selfrep-"
MAX_NAME = 63  # a DNS-1123 label, so that the name is also a valid label value
DNS_1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def k8s_name(full_name: str) -> str:
    """The Kubernetes name of deployment `owner/name`: `selfrep-owner-name-<hash>`, lowercase
    letters, digits and dashes, at most 63 characters. The hash (of the lowercased full name)
    keeps names apart that differ only in what was replaced (`a/b-c`, `a-b/c`, `a/b.c`)."""
    digest = hashlib.sha256(full_name.lower().encode()).hexdigest()[:8]
    readable = re.sub(r"[^a-z0-9]+", "-", full_name.lower()).strip("-")
    room = MAX_NAME - len(NAME_PREFIX) - len(digest) - 1
    readable = readable[:room].rstrip("-")
    return f"{NAME_PREFIX}{readable}-{digest}" if readable else f"{NAME_PREFIX}{digest}"


def redis_trigger() -> list[tuple[str, str]]:
    """Where KEDA reads the queue: the host and port of REDIS_URL (its database, TLS, and the
    password from the instance's own environment); with the embedded Redis, which a cluster
    cannot reach, from REDIS_ADDRESS (host:port) in the `selfrep` Secret."""
    url = urlsplit(settings.REDIS_URL)
    if url.scheme not in ("redis", "rediss"):
        return [("addressFromEnv", "REDIS_ADDRESS")]
    database = parse_qs(url.query).get("db", [url.path.strip("/") or "0"])[0]
    trigger = [
        ("address", f"{url.hostname}:{url.port or 6379}"),
        ("databaseIndex", database),
        ("enableTLS", "true" if url.scheme == "rediss" else "false"),
    ]
    if url.username and unquote(url.username) != "default":
        trigger.append(("usernameFromEnv", "REDIS_USERNAME"))
    if url.password:
        trigger.append(("passwordFromEnv", "REDIS_PASSWORD"))
    return trigger


def resources(hardware) -> dict[str, str]:
    """What one instance of `hardware` takes, as apps/deployments/capacity.py counts it."""
    needs = {"cpu": str(hardware.cpu_count or 1)}
    if hardware.memory_gb:
        needs["memory"] = f"{hardware.memory_gb}Gi"
    if hardware.gpu_count:
        needs["nvidia.com/gpu"] = str(hardware.gpu_count)
    return needs


def render(deployment: Deployment, *, image: str = DEFAULT_IMAGE, namespace: str = "") -> str:
    release = deployment.current_release
    if release is None:
        raise CommandError(f"{deployment.full_name} has no release to render.")
    name = k8s_name(deployment.full_name)
    q = json.dumps  # every string goes in quoted
    context = {
        "name": name,
        "namespace": q(namespace) if namespace else "",
        "full_name": q(deployment.full_name),
        "full_name_comment": deployment.full_name,
        "release_number": release.number,
        "release_label": q(str(release.number)),
        "hardware_comment": release.hardware.sku,
        "queue": q(deployment.queue_name),
        "list_name": q(broker.queue_key(deployment.queue_name)),
        "version": q(release.version.digest),
        "hardware": q(release.hardware.sku),
        "image": q(image),
        "grace_seconds": settings.AUTOSCALER_STOP_TIMEOUT,
        "gpus": release.hardware.gpu_count,
        "resources": q(resources(release.hardware)),
        "min_instances": release.min_instances,
        # Instances kept warm boot their model when they start (config/worker.py), as the
        # supervisor's do; with min 0 the first prediction boots it, its setup in its logs.
        "preload": q(str(release.version_id)) if release.min_instances else "",
        # A HorizontalPodAutoscaler needs a maximum of at least 1; an off deployment is
        # paused at zero instead.
        "max_instances": max(1, release.max_instances),
        "paused": deployment.is_off,
        "polling_interval": max(1, math.ceil(settings.AUTOSCALER_INTERVAL)),
        "idle_seconds": settings.AUTOSCALER_IDLE_SECONDS,
        "redis": [(key, q(value)) for key, value in redis_trigger()],
    }
    engine = Engine(autoescape=False)
    return engine.from_string(TEMPLATE.read_text()).render(Context(context, autoescape=False))


class Command(BaseCommand):
    help = (
        "Print the Kubernetes Deployment and KEDA ScaledObject of a deployment's current "
        "release (docs/deployments.md)."
    )

    def add_arguments(self, parser):
        parser.add_argument("deployment", nargs="?", help="owner/name")
        parser.add_argument(
            "--all", action="store_true", help="every enabled deployment, separated by ---"
        )
        parser.add_argument("--image", default=DEFAULT_IMAGE, help="the platform image")
        parser.add_argument("--namespace", default="", help="the Kubernetes namespace")

    def handle(self, *args, deployment, image, namespace, **options):
        every = options["all"]
        if bool(deployment) == every:
            raise CommandError("Name one deployment (owner/name), or give --all.")
        if namespace and not DNS_1123_LABEL.match(namespace):
            raise CommandError(f"{namespace!r} is not a Kubernetes namespace name.")
        deployments = Deployment.objects.select_related(
            "owner", "current_release__version", "current_release__hardware"
        )
        if every:
            chosen = list(
                deployments.filter(disabled=False, current_release__isnull=False).order_by(
                    "owner__name", "name"
                )
            )
        else:
            chosen = [self._find(deployments, deployment)]
        documents = [render(d, image=image, namespace=namespace).strip() for d in chosen]
        if documents:
            self.stdout.write("\n---\n".join(documents))

    def _find(self, deployments, ref: str) -> Deployment:
        owner, slash, name = ref.partition("/")
        found = deployments.filter(owner__name__iexact=owner, name__iexact=name).first()
        if not slash or found is None:
            raise CommandError(f"There is no deployment {ref!r} (give it as owner/name).")
        return found
