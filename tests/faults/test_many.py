"""A thousand predictions queued at once, each delivered twice, and the prediction worker
restarted (as a deploy does) while it works through them: every prediction completes, and
each runs exactly once (the sweeper also queues the waiting ones again meanwhile)."""

from __future__ import annotations

import collections
import time
from functools import partial

from django.db import transaction
from django.db.models import Count

from apps.catalog.models import Model
from apps.predictions.models import Prediction
from apps.predictions.services import prediction_create, prediction_enqueue
from tests.faults.conftest import ACTIVE, push, wait_for

COUNTER = """
    from cog import BasePredictor

    class Predictor(BasePredictor):
        def predict(self, tag: str) -> str:
            with open({runs!r}, "a") as runs:  # one line per run of predict()
                runs.write(tag + "\\n")
            return tag
"""

TOTAL = 1000


def test_a_thousand_queued_predictions_survive_a_worker_restart_and_run_once_each(
    platform_factory, cast, tmp_path
):
    runs = tmp_path / "runs.txt"
    version = push(
        cast.alice.user.account, "counter", COUNTER.format(runs=str(runs)), tmp_path / "src"
    )
    # The model counts its runs in a file of the test's: only unsandboxed model code can
    # write there (the operator's SANDBOX=off; the queue's guarantees are the same).
    platform = platform_factory(SANDBOX="off")
    tags = [f"t{i:04d}" for i in range(TOTAL)]
    started = time.monotonic()
    ids = {}
    with transaction.atomic():  # queued when this commits, all at once
        for tag in tags:
            prediction = prediction_create(
                version=version,
                owner=cast.alice.user.account,
                created_by=cast.alice.user,
                input={"tag": tag},
            )
            # Each one is delivered twice, as after a sweeper's re-queue or a broker failover.
            transaction.on_commit(partial(prediction_enqueue, prediction))
            ids[prediction.id] = tag

    def progress() -> str:
        counts = dict(Prediction.objects.values_list("status").annotate(n=Count("id")).order_by())
        return f"{counts} after {time.monotonic() - started:.0f}s"

    wait_for(
        lambda: (
            True
            if Prediction.objects.filter(status=Prediction.Status.SUCCEEDED).count() >= TOTAL // 3
            else None
        ),
        90,
        lambda: f"a third of the predictions did not finish: {progress()}\n{platform.logs()}",
    )
    first_worker = platform.workers[0]
    platform.restart_worker(first_worker, "cpu")
    assert first_worker.returncode is not None

    wait_for(
        lambda: True if not Prediction.objects.filter(status__in=ACTIVE).exists() else None,
        120,
        lambda: f"predictions are still waiting: {progress()}\n{platform.logs()}",
    )
    predictions = list(Prediction.objects.filter(pk__in=ids))
    assert len(predictions) == TOTAL
    unsuccessful = [(p.pk, p.status, p.error) for p in predictions if p.status != "succeeded"]
    assert not unsuccessful, unsuccessful[:10]
    assert all(p.output == ids[p.pk] for p in predictions)  # each its own output, once
    assert len({p.worker_id for p in predictions}) == 2  # some before, some after the restart

    ran = collections.Counter(runs.read_text().split())
    assert set(ran) == set(tags), set(tags) ^ set(ran)
    assert [tag for tag, times in ran.items() if times > 1] == []
    # The run count is bumped just after a prediction's end is recorded: wait for the last.
    counted = wait_for(
        lambda: Model.objects.get(pk=version.model_id).run_count == TOTAL or None,
        10,
        lambda: f"run_count: {Model.objects.get(pk=version.model_id).run_count} of {TOTAL}",
    )
    assert counted
    time.sleep(0.5)  # nothing is counted twice afterwards either
    assert Model.objects.get(pk=version.model_id).run_count == TOTAL
