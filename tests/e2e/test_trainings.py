"""Trainings on a running platform: the official Python client's `trainings` methods,
unchanged, a trainable Cog model whose trained version runs with its weights, and the
ends that must leave no version behind (cancel, train() raising or returning no weights,
the worker killed mid-training)."""

from __future__ import annotations

import base64
import os
import re
import signal
import threading
import time
from textwrap import dedent

import httpx
import pytest
import replicate
from django.conf import settings
from replicate.exceptions import ReplicateError

from apps.billing.models import UsageRecord
from apps.catalog.models import Model
from apps.catalog.services import version_push
from apps.predictions.models import Prediction
from tests.e2e.test_streaming import read_events
from tests.predictions.test_webhooks import Receiver, valid_for

PREDICT = """
    from cog import BasePredictor, Input

    class Predictor(BasePredictor):
        def setup(self, weights=None):
            self.style = open(weights).read() if weights else "plain"
            print(f"loaded style {self.style!r}")

        def predict(self, text: str = Input(default="x")) -> str:
            return f"{self.style}:{text}"
"""

TRAIN = """
    import tempfile
    import time
    from cog import BaseModel, Input, Path

    class TrainingOutput(BaseModel):
        weights: Path

    def train(
        style: str = Input(description="The style to learn"),
        steps: int = Input(default=3, ge=1, le=1000),
        delay: float = Input(default=0.0, ge=0, le=5),
        fail: bool = Input(default=False),
        no_weights: bool = Input(default=False),
    ) -> TrainingOutput:
        for step in range(steps):
            print(f"step {step + 1}/{steps} loss {1 / (step + 1):.4f}", flush=True)
            time.sleep(delay)
        if fail:
            raise RuntimeError("the loss diverged")
        if no_weights:
            return None
        folder = Path(tempfile.mkdtemp())
        (folder / "style.txt").write_text(style)
        return TrainingOutput(weights=folder / "style.txt")
"""


def push_trainable(owner, name: str, root, visibility: str = "public"):
    directory = root / name
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "cog.yaml").write_text(
        'predict: "predict.py:Predictor"\ntrain: "train.py:train"\n'
    )
    (directory / "predict.py").write_text(dedent(PREDICT))
    (directory / "train.py").write_text(dedent(TRAIN))
    model = Model.objects.create(owner=owner, name=name, visibility=visibility)
    version, _ = version_push(model=model, source_dir=directory)
    return version


@pytest.fixture
def trainable(transactional_db, cast, tmp_path):
    base = push_trainable(cast.alice.user.account, "stylist", tmp_path)
    Model.objects.create(owner=cast.bob.user.account, name="my-stylist", visibility="private")
    return base


def client(platform, person) -> replicate.Client:
    return replicate.Client(api_token=person.token, base_url=platform.url)


def wait_for(predicate, timeout: float, message: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (value := predicate()) is not None:
            return value
        time.sleep(0.2)
    raise AssertionError(message)


def test_the_version_carries_cogs_training_schema(trainable):
    schemas = trainable.openapi_schema["components"]["schemas"]
    for name in ("Input", "Output", "TrainingInput", "TrainingOutput", "TrainingRequest"):
        assert name in schemas
    assert "/trainings" in trainable.openapi_schema["paths"]
    assert list(schemas["TrainingInput"]["properties"])[:2] == ["style", "steps"]
    assert trainable.is_trainable


def test_train_with_the_client_then_run_the_trained_version(platform, trainable, cast):
    api = client(platform, cast.bob)
    training = api.trainings.create(
        version=f"alice/stylist:{trainable.digest}",
        input={"style": "pirate", "steps": 4},
        destination="bob/my-stylist",
    )
    assert training.status == "starting" and training.destination == "bob/my-stylist"
    deadline = time.monotonic() + 120
    while training.status not in ("succeeded", "failed", "canceled"):
        assert time.monotonic() < deadline, "the training did not finish:\n" + platform.logs()
        time.sleep(0.3)
        training.reload()
    assert training.status == "succeeded", training.error
    assert "step 4/4 loss 0.2500" in training.logs
    new_ref = training.output["version"]
    assert new_ref.startswith("bob/my-stylist:") and new_ref != f"bob/my-stylist:{trainable.digest}"
    weights = httpx.get(training.output["weights"], timeout=10)
    assert weights.status_code == 200 and weights.text == "pirate"

    destination = Model.objects.get(owner__name="bob", name="my-stylist")
    trained = destination.latest_version
    assert trained.digest == new_ref.split(":")[1]
    assert trained.trained_from == trainable and trained.weights.startswith(".weights/")
    # setup() received the weights, as Cog gives them (COG_WEIGHTS).
    assert api.run(new_ref, input={"text": "ahoy"}) == "pirate:ahoy"
    assert api.run(f"alice/stylist:{trainable.digest}", input={"text": "ahoy"}) == "plain:ahoy"

    assert api.trainings.get(training.id).output == training.output
    assert training.id in [t.id for t in api.trainings.list().results]
    # A training is not a prediction in the predictions list.
    assert training.id not in [p.id for p in api.predictions.list().results]
    record = UsageRecord.objects.get(object_id=training.id)
    assert record.kind == "training" and record.amount > 0


def test_cancel_a_running_training_leaves_no_version(platform, trainable, cast):
    api = client(platform, cast.bob)
    training = api.trainings.create(
        version=f"alice/stylist:{trainable.digest}",
        input={"style": "slow", "steps": 100, "delay": 0.5},
        destination="bob/my-stylist",
    )
    wait_for(
        lambda: Prediction.objects.filter(pk=training.id, status="processing").first(),
        60,
        "the training never started:\n" + platform.logs(),
    )
    training.cancel()
    done = wait_for(
        lambda: Prediction.objects.filter(pk=training.id, status="canceled").first(),
        30,
        "the training was not canceled",
    )
    assert done.output is None and done.trained_version is None
    assert not Model.objects.get(owner__name="bob", name="my-stylist").versions.exists()


@pytest.mark.parametrize(
    ("flag", "error"), [("fail", "the loss diverged"), ("no_weights", "without a weights file")]
)
def test_a_failed_train_leaves_no_version(platform, trainable, cast, flag, error):
    api = client(platform, cast.bob)
    training = api.trainings.create(
        version=f"alice/stylist:{trainable.digest}",
        input={"style": "x", flag: True},
        destination="bob/my-stylist",
    )
    done = wait_for(
        lambda: Prediction.objects.filter(pk=training.id, status="failed").first(),
        120,
        "the training did not fail:\n" + platform.logs(),
    )
    assert error in done.error
    assert not Model.objects.get(owner__name="bob", name="my-stylist").versions.exists()


def test_a_worker_killed_mid_training_fails_it_and_leaves_no_version(platform, trainable, cast):
    api = client(platform, cast.bob)
    training = api.trainings.create(
        version=f"alice/stylist:{trainable.digest}",
        input={"style": "doomed", "steps": 200, "delay": 0.5},
        destination="bob/my-stylist",
    )
    running = wait_for(
        lambda: Prediction.objects.filter(pk=training.id, status="processing").first(),
        60,
        "the training never started:\n" + platform.logs(),
    )
    os.kill(int(running.worker_id.split(":")[1]), signal.SIGKILL)
    platform.start_worker("cpu")
    failed = wait_for(
        lambda: Prediction.objects.filter(pk=training.id, status="failed").first(),
        60,
        "the orphaned training was not ended",
    )
    assert "stopped unexpectedly" in failed.error
    assert not Model.objects.get(owner__name="bob", name="my-stylist").versions.exists()


def api_post(platform, person, path: str, body) -> httpx.Response:
    return httpx.post(
        f"{platform.url}/v1{path}",
        headers={"Authorization": f"Bearer {person.token}"},
        json=body,
        timeout=10,
    )


def test_bad_trainings_get_clear_errors(platform, trainable, cast, tmp_path):
    path = f"/models/alice/stylist/versions/{trainable.digest}/trainings"
    good = {"style": "x"}
    # Someone else's model, the base model of someone else, a model that does not exist.
    for destination in ("alice/stylist", "nobody/nothing", "bob", 7):
        response = api_post(platform, cast.bob, path, {"destination": destination, "input": good})
        assert response.status_code == 404, response.text
        assert response.json()["detail"] == "The specified training destination does not exist"
    response = api_post(
        platform, cast.bob, path, {"destination": "bob/my-stylist", "input": {"steps": "many"}}
    )
    assert response.status_code == 422
    fields = {item["field"] for item in response.json()["invalid_fields"]}
    assert "input.steps" in fields and "input" in fields  # and `style` is required
    response = api_post(platform, cast.bob, path, {"input": good})
    assert response.status_code == 422 and "destination is required" in response.text

    plain_dir = tmp_path / "plain"
    plain_dir.mkdir()
    (plain_dir / "cog.yaml").write_text('predict: "predict.py:Predictor"\n')
    (plain_dir / "predict.py").write_text(dedent(PREDICT))
    plain = Model.objects.create(owner=cast.alice.user.account, name="plain")
    version, _ = version_push(model=plain, source_dir=plain_dir)
    response = api_post(
        platform,
        cast.bob,
        f"/models/alice/plain/versions/{version.digest}/trainings",
        {"destination": "bob/my-stylist", "input": good},
    )
    assert response.status_code == 422 and "cannot be trained" in response.json()["detail"]
    with pytest.raises(ReplicateError):
        client(platform, cast.bob).trainings.get("doesnotexist")
    assert not Prediction.objects.filter(kind="training").exists()


def test_file_inputs_reach_train(platform, tmp_path, cast, transactional_db):
    directory = tmp_path / "reader"
    directory.mkdir()
    (directory / "cog.yaml").write_text(
        'predict: "predict.py:Predictor"\ntrain: "train.py:train"\n'
    )
    (directory / "predict.py").write_text(dedent(PREDICT))
    (directory / "train.py").write_text(
        dedent(
            """
            import tempfile
            from cog import BaseModel, Input, Path

            class TrainingOutput(BaseModel):
                weights: Path

            def train(text: Path = Input(description="Text to learn")) -> TrainingOutput:
                content = open(text).read()
                print(f"read {len(content)} characters")
                out = Path(tempfile.mkdtemp()) / "w.txt"
                out.write_text(content.upper())
                return TrainingOutput(weights=out)
            """
        )
    )
    model = Model.objects.create(owner=cast.alice.user.account, name="reader")
    version, _ = version_push(model=model, source_dir=directory)
    api = client(platform, cast.alice)
    data = "data:text/plain;base64," + base64.b64encode(b"sea shanty").decode()
    training = api.trainings.create(
        version=f"alice/reader:{version.digest}", input={"text": data}, destination="alice/reader"
    )
    done = wait_for(
        lambda: Prediction.objects.filter(
            pk=training.id, status__in=["succeeded", "failed"]
        ).first(),
        120,
        "the training did not finish:\n" + platform.logs(),
    )
    assert done.status == "succeeded", done.error
    assert "read 10 characters" in done.logs
    assert api.run(done.output["version"], input={"text": "y"}) == "SEA SHANTY:y"


def test_the_demo_char_lm_learns_the_style_of_a_text(platform, cast, transactional_db):
    base = Model.objects.create(owner=cast.alice.user.account, name="char-lm", visibility="public")
    version, _ = version_push(model=base, source_dir=settings.BASE_DIR / "models" / "char-lm")
    Model.objects.create(owner=cast.bob.user.account, name="cats", visibility="private")
    text = "the cat sat on the mat. " * 200
    api = client(platform, cast.bob)
    training = api.trainings.create(
        version=f"alice/char-lm:{version.digest}",
        input={
            "text": "data:text/plain;base64," + base64.b64encode(text.encode()).decode(),
            "steps": 300,
        },
        destination="bob/cats",
    )
    done = wait_for(
        lambda: (
            Prediction.objects.filter(pk=training.id)
            .exclude(status__in=["starting", "processing"])
            .first()
        ),
        400,
        "the demo did not finish training:\n" + platform.logs(),
    )
    assert done.status == "succeeded", done.error + "\n" + done.logs
    losses = [float(loss) for loss in re.findall(r"loss (\d+\.\d+)", done.logs)]
    assert len(losses) >= 5 and losses[-1] < losses[0] / 2, losses

    ask = {"prompt": "the ", "length": 300, "seed": 7, "temperature": 0.5}
    before = api.run(f"alice/char-lm:{version.digest}", input=ask)
    after = api.run(done.output["version"], input=ask)
    alphabet = set(text)

    def share(output: str) -> float:
        return sum(character in alphabet for character in output) / max(1, len(output))

    # The trained version writes in the training text's style; the base does not.
    assert after != before
    assert share(after) > 0.95 and share(after) > share(before)
    assert after.count("cat") + after.count("mat") > before.count("cat") + before.count("mat")


def test_a_trainings_webhooks_carry_the_training_signed(platform, trainable, cast):
    receiver = Receiver()
    thread = threading.Thread(target=receiver.serve_forever, daemon=True)
    thread.start()
    try:
        training = client(platform, cast.bob).trainings.create(
            version=f"alice/stylist:{trainable.digest}",
            input={"style": "hooked"},
            destination="bob/my-stylist",
            webhook=receiver.url(),
            webhook_events_filter=["start", "completed"],
        )
        received = receiver.wait_for(2, timeout=120)
    finally:
        receiver.shutdown()
        receiver.server_close()
    bodies = [request.json for request in received]
    # Deliveries run on several threads: the order they arrive in is not the order of events.
    assert sorted(body["status"] for body in bodies) == ["processing", "succeeded"], bodies
    final = next(body for body in bodies if body["status"] == "succeeded")
    assert final["id"] == training.id and final["destination"] == "bob/my-stylist"
    assert final["output"]["version"].startswith("bob/my-stylist:")
    assert final["urls"]["get"].endswith(f"/v1/trainings/{training.id}")
    key = httpx.get(
        f"{platform.url}/v1/webhooks/default/secret",
        headers={"Authorization": f"Bearer {cast.bob.token}"},
        timeout=10,
    ).json()["key"]
    assert all(valid_for(request, key) for request in received)


def test_a_predictor_class_with_train_trains_too(platform, cast, tmp_path, transactional_db):
    """Cog's other spelling: one class with setup(), predict() and train()."""
    directory = tmp_path / "classy"
    directory.mkdir()
    (directory / "cog.yaml").write_text(
        'predict: "predict.py:Predictor"\ntrain: "predict.py:Predictor"\n'
    )
    (directory / "predict.py").write_text(
        dedent(
            """
            import tempfile
            from cog import BaseModel, BasePredictor, Input, Path

            class TrainingOutput(BaseModel):
                weights: Path

            class Predictor(BasePredictor):
                def setup(self, weights=None) -> None:
                    self.prefix = open(weights).read() if weights else "base"

                def predict(self, text: str = Input(default="x")) -> str:
                    return f"{self.prefix}:{text}"

                def train(self, word: str = Input(description="A word")) -> TrainingOutput:
                    out = Path(tempfile.mkdtemp()) / "w.txt"
                    out.write_text(f"{self.prefix} {word}")
                    return TrainingOutput(weights=out)
            """
        )
    )
    model = Model.objects.create(owner=cast.alice.user.account, name="classy")
    version, _ = version_push(model=model, source_dir=directory)
    training_input = version.openapi_schema["components"]["schemas"]["TrainingInput"]
    assert list(training_input["properties"]) == ["word"]
    api = client(platform, cast.alice)
    training = api.trainings.create(
        version=f"alice/classy:{version.digest}", input={"word": "hi"}, destination="alice/classy"
    )
    done = wait_for(
        lambda: Prediction.objects.filter(
            pk=training.id, status__in=["succeeded", "failed"]
        ).first(),
        120,
        "the training did not finish:\n" + platform.logs(),
    )
    assert done.status == "succeeded", done.error
    assert api.run(done.output["version"], input={"text": "y"}) == "base hi:y"


def test_a_trainings_logs_stream_over_its_stream_url(platform, trainable, cast):
    training = client(platform, cast.bob).trainings.create(
        version=f"alice/stylist:{trainable.digest}",
        input={"style": "streamed", "steps": 5, "delay": 0.1},
        destination="bob/my-stylist",
    )
    events = read_events(training.urls["stream"])  # a training streams its logs
    logs = "".join(data for kind, _id, data in events if kind == "logs")
    assert "step 5/5 loss 0.2000" in logs
    assert events[-1][0] == "done" and not any(kind == "output" for kind, _, _ in events)
