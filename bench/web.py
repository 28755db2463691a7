"""Web pages: server time and query counts with 1,000 models and 100,000 predictions.

    VAR_DIR=/tmp/bench-x EMBEDDED_REDIS_NAME=bench .venv/bin/python bench/web.py [--quick]

Seeds the benchmark's own database with bulk_create (1,000 public models of 10 owners, each
with a version, an example prediction, 12 featured, 5 collections; 100,000 predictions spread
over the models, their owners and 30 days), then requests the home page `/` (anonymous and
logged in), a model page `/<owner>/<name>` (the most-run model, logged in as its owner) and a
prediction page `/p/<id>` (its owner), in-process with Django's test client: the time is the
server's (URL routing, middleware, view, queries, template) without HTTP parsing or the
network. Queries per page are counted with CaptureQueriesContext. Pages that answer an error
are reported as such: the templates change often, and this measures whatever is there.
"""

from __future__ import annotations

import hashlib
import random
import time
from datetime import timedelta

from harness import (
    BASE_DIR,
    Results,
    arguments,
    bench_account,
    finish,
    fmt,
    markdown_table,
    ms,
    push,
    scenario_processes,
    setup_django,
    summary,
)

OWNERS = 10


def seed(models_count: int, predictions_count: int) -> dict:
    """Bulk-create the catalog and the predictions; returns what the pages need."""
    from django.utils import timezone

    from apps.accounts.models import User
    from apps.catalog.models import Collection, Model, Version
    from apps.predictions.models import Prediction, new_prediction_id

    started = time.perf_counter()
    user, _token = bench_account()
    template = push(user.account, "hello-world", BASE_DIR / "models" / "hello-world")
    owners = []
    for index in range(OWNERS):
        owner = User.objects.filter(username=f"web-owner-{index}").first()
        if owner is None:
            owner = User.objects.create_user(username=f"web-owner-{index}", password=None)
        owners.append(owner)
    now = timezone.now()
    rng = random.Random(42)
    existing = Model.objects.filter(name__startswith="bench-model-").count()
    models = Model.objects.bulk_create(
        [
            Model(
                owner=owners[i % OWNERS].account,
                name=f"bench-model-{i:05d}",
                description=f"Benchmark model number {i}, which greets people.",
                readme=f"# Model {i}\n\nA *benchmark* model.\n",
                run_count=rng.randint(0, 100000),
                featured=i < 12,
                created_at=now - timedelta(minutes=i),
            )
            for i in range(existing, models_count)
        ],
        batch_size=500,
    )
    versions = Version.objects.bulk_create(
        [
            Version(
                model=model,
                digest=hashlib.sha256(model.name.encode()).hexdigest(),
                openapi_schema=template.openapi_schema,
                cog_version=template.cog_version,
                predictor_ref=template.predictor_ref,
                config=template.config,
                requirements=template.requirements,
                artifact=template.artifact.name,
                artifact_size=template.artifact_size,
                setup_status=Version.Setup.OK,
            )
            for model in models
        ],
        batch_size=500,
    )
    for model, version in zip(models, versions, strict=True):
        model.latest_version = version
    Model.objects.bulk_update(models, ["latest_version"], batch_size=500)
    for index in range(5):
        collection, _ = Collection.objects.get_or_create(
            slug=f"bench-{index}", defaults={"name": f"Benchmark collection {index}"}
        )
        collection.models.set(models[index * 10 : index * 10 + 10] if models else [])

    all_models = list(
        Model.objects.filter(name__startswith="bench-model-").select_related("latest_version")
    )
    have = Prediction.objects.filter(model__name__startswith="bench-model-").count()
    batch: list[Prediction] = []
    for i in range(have, predictions_count):
        model = (
            all_models[rng.randrange(len(all_models))] if i >= len(all_models) else all_models[i]
        )
        created = now - timedelta(seconds=rng.randint(0, 30 * 86400))
        batch.append(
            Prediction(
                id=new_prediction_id(),
                owner_id=model.owner_id,
                model=model,
                version_id=model.latest_version_id,
                source=Prediction.Source.WEB if i % 3 else Prediction.Source.API,
                status=Prediction.Status.SUCCEEDED,
                input={"text": f"person {i}"},
                output=f"hello person {i}",
                logs=f"greeting 'person {i}'\n",
                metrics={"predict_time": 0.001, "total_time": 0.01},
                created_at=created,
                started_at=created + timedelta(milliseconds=5),
                completed_at=created + timedelta(milliseconds=8),
                is_example=i < len(all_models),  # one example per model
            )
        )
        if len(batch) >= 5000:
            Prediction.objects.bulk_create(batch)
            batch = []
    if batch:
        Prediction.objects.bulk_create(batch)
    busiest = max(all_models, key=lambda m: m.run_count)
    prediction = (
        Prediction.objects.filter(model=busiest, is_example=False).order_by("-created_at").first()
        or Prediction.objects.filter(model=busiest).first()
    )
    return {
        "seconds": time.perf_counter() - started,
        "model": busiest,
        "owner": User.objects.get(account__pk=busiest.owner_id),
        "prediction": prediction,
        "models": Model.objects.count(),
        "predictions": Prediction.objects.count(),
    }


def main() -> None:
    args = arguments(__doc__.splitlines()[0])
    setup_django()
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    models_count, predictions_count, requests = (
        (50, 2000, 5) if args.quick else (1000, 100_000, 200)
    )
    results = Results("web")
    with scenario_processes("web"):  # sessions and pages may touch Redis
        seeded = seed(models_count, predictions_count)
        model, owner, prediction = seeded["model"], seeded["owner"], seeded["prediction"]
        anonymous = Client(raise_request_exception=False)
        logged_in = Client(raise_request_exception=False)
        logged_in.force_login(owner)
        pages = {
            "home page `/`, anonymous": (anonymous, "/"),
            "home page `/`, logged in": (logged_in, "/"),
            "model page `/<owner>/<name>`": (
                logged_in,
                f"/{model.owner.name}/{model.name}",
            ),
            "prediction page `/p/<id>`": (logged_in, f"/p/{prediction.id}"),
        }
        timings: dict[str, list[float]] = {name: [] for name in pages}
        statuses: dict[str, set[int]] = {name: set() for name in pages}
        queries: dict[str, int] = {}
        sizes: dict[str, int] = {}
        for name, (client, path) in pages.items():
            for _ in range(3 if args.quick else 10):  # warm-up: caches, template loading
                statuses[name].add(client.get(path).status_code)
            with CaptureQueriesContext(connection) as captured:
                response = client.get(path)
            queries[name] = len(captured.captured_queries)
            sizes[name] = len(response.content)
        for _ in range(requests):  # pages in turns, so load changes hit all of them alike
            for name, (client, path) in pages.items():
                started = time.perf_counter()
                response = client.get(path)
                timings[name].append(ms(time.perf_counter() - started))
                statuses[name].add(response.status_code)

    for name, values in timings.items():
        stats = summary(values)
        codes = sorted(statuses[name])
        ok = codes == [200]
        results.add_summary(
            name,
            stats,
            value=f"{queries[name]} queries, {sizes[name] // 1024} KiB"
            + ("" if ok else f", HTTP {'/'.join(map(str, codes))}"),
        )
    results.notes["seeded"] = {k: seeded[k] for k in ("seconds", "models", "predictions")}
    results.section(
        "Web: method",
        f"Database: {seeded['models']} models and {seeded['predictions']} predictions "
        f"(SQLite, seeded with bulk_create in {seeded['seconds']:.0f} s). Each page: warm-up, "
        f"then {requests} requests, pages in turns, timed in-process with Django's test client "
        "(server time: routing, middleware, view, queries, templates; no HTTP, no network). "
        "Queries: one request after warm-up, counted with CaptureQueriesContext.\n\n"
        + markdown_table(
            ["page", "p50 ms", "p95 ms", "queries", "HTTP status"],
            [
                [
                    name,
                    fmt(summary(timings[name])["p50"]),
                    fmt(summary(timings[name])["p95"]),
                    queries[name],
                    "/".join(map(str, sorted(statuses[name]))),
                ]
                for name in pages
            ],
        ),
    )
    finish(results, args.json)


if __name__ == "__main__":
    main()
