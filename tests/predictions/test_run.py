"""A prediction run by the worker's service, end to end against a real model process."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import pytest
from django.core.files.storage import default_storage
from django.db import transaction

from apps.catalog.models import Model, Version
from apps.catalog.services import version_push
from apps.core.redis import client as redis_client
from apps.predictions.models import Prediction
from apps.predictions.pool import shutdown_pool
from apps.predictions.services import SECRET_MASK, prediction_create
from apps.predictions.worker import prediction_run

PREDICTOR = """
from cog import BasePredictor, Input, Path, Secret, ConcatenateIterator

class Predictor(BasePredictor):
    def setup(self):
        print("setting up")

    def predict(self, prompt: str = "hi", token: Secret = Input(default=None),
                file: bool = False) -> ConcatenateIterator[str]:
        print(f"token is {token}")
        secret = token.get_secret_value() if token else ""
        yield f"{prompt} "
        yield f"{len(secret)}"
"""

FILE_PREDICTOR = """
from cog import BasePredictor, Path

class Predictor(BasePredictor):
    def predict(self, text: str = "x") -> Path:
        out = Path("/tmp/selfrep-test-output.txt")
        out.write_text(text * 3)
        return out
"""

BROKEN = """
from cog import BasePredictor

class Predictor(BasePredictor):
    def setup(self):
        raise RuntimeError("no weights here")

    def predict(self) -> str:
        return "never"
"""


@pytest.fixture(autouse=True, scope="module")
def _stop_model_processes():
    yield
    shutdown_pool()


def push(cast, tmp_path: Path, name: str, source: str) -> Version:
    directory = tmp_path / name
    directory.mkdir()
    (directory / "cog.yaml").write_text('predict: "predict.py:Predictor"\n')
    (directory / "predict.py").write_text(dedent(source))
    model = Model.objects.create(owner=cast.alice.user.account, name=name)
    version, _ = version_push(model=model, source_dir=directory)
    return version


def create(version, **input) -> Prediction:
    with transaction.atomic():
        return prediction_create(version=version, owner=version.model.owner, input=input)


def test_a_prediction_streams_to_completion_and_keeps_secrets_out(cast, tmp_path):
    version = push(cast, tmp_path, "streamer", PREDICTOR)
    prediction = create(version, prompt="hello", token="sup3r-s3cret")
    assert prediction.input == {"prompt": "hello", "token": SECRET_MASK}
    assert Prediction.objects.get(pk=prediction.pk).input["token"] == SECRET_MASK

    prediction_run(prediction.id)
    prediction.refresh_from_db()
    assert prediction.status == "succeeded", prediction.error
    assert prediction.output == ["hello ", "12"]  # the model received the real secret
    assert "sup3r-s3cret" not in prediction.logs
    assert "setting up" in prediction.logs
    assert "cold boot" in prediction.logs
    assert prediction.started_at <= prediction.completed_at
    assert prediction.metrics["predict_time"] >= 0
    assert prediction.metrics["total_time"] >= prediction.metrics["predict_time"]
    assert redis_client().get(f"selfrep:secrets:{prediction.id}") is None
    version.refresh_from_db()
    assert version.setup_status == "ok"
    assert version.model.__class__.objects.get(pk=version.model_id).run_count == 1


def test_running_a_prediction_twice_does_nothing_the_second_time(cast, tmp_path):
    version = push(cast, tmp_path, "once", PREDICTOR)
    prediction = create(version, prompt="one")
    prediction_run(prediction.id)
    finished = Prediction.objects.get(pk=prediction.pk)
    prediction_run(prediction.id)
    again = Prediction.objects.get(pk=prediction.pk)
    assert again.completed_at == finished.completed_at
    assert again.output == ["one ", "0"]


def test_file_outputs_are_stored_and_served(client, cast, tmp_path):
    version = push(cast, tmp_path, "writer", FILE_PREDICTOR)
    prediction = create(version, text="ab")
    prediction_run(prediction.id)
    prediction.refresh_from_db()
    assert prediction.status == "succeeded", prediction.error
    url = prediction.output
    assert url.startswith("http") and f"/media/predictions/{prediction.id}/" in url
    path = url.split("/media/", 1)[1]
    assert default_storage.open(path).read() == b"ababab"
    response = client.get("/media/" + path)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"ababab"


def test_a_broken_setup_fails_the_prediction_and_marks_the_version(cast, tmp_path):
    version = push(cast, tmp_path, "broken", BROKEN)
    prediction = create(version)
    prediction_run(prediction.id)
    prediction.refresh_from_db()
    assert prediction.status == "failed"
    assert "setup" in prediction.error.lower()
    assert "no weights here" in prediction.logs
    version.refresh_from_db()
    assert version.setup_status == "failed"
    assert "no weights here" in version.setup_logs
