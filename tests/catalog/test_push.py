"""Pushing model directories: `manage.py push` and the service behind it."""

from __future__ import annotations

from io import StringIO
from pathlib import Path
from textwrap import dedent

import pytest
from django.core.management import CommandError, call_command

from apps.catalog.models import Model, Version
from apps.catalog.services import PushError, version_push

GOOD = """
from cog import BasePredictor, Input

class Predictor(BasePredictor):
    def predict(self, text: str = Input(default="world", description="Who to greet")) -> str:
        return "hello " + text
"""


def model_dir(
    root: Path,
    cog_yaml: str | None = 'predict: "predict.py:Predictor"\n',
    predict: str = GOOD,
    readme: str | None = None,
) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    if cog_yaml is not None:
        (root / "cog.yaml").write_text(dedent(cog_yaml))
    (root / "predict.py").write_text(dedent(predict))
    if readme is not None:
        (root / "README.md").write_text(readme)
    return root


def push(*args) -> str:
    out = StringIO()
    call_command("push", *args, stdout=out)
    return out.getvalue()


def test_push_creates_the_model_and_a_version_with_cogs_schema(cast, tmp_path):
    directory = model_dir(tmp_path / "hello", readme="# Hello\n")
    output = push("acme/hello", str(directory))
    model = Model.objects.get(owner=cast.acme.account, name="hello")
    version = model.versions.get()
    assert model.latest_version == version
    assert f"acme/hello:{version.digest}" in output
    assert len(version.digest) == 64
    prop = version.input_schema["properties"]["text"]
    assert prop["default"] == "world"
    assert prop["description"] == "Who to greet"
    assert prop["x-order"] == 0
    assert version.output_schema["type"] == "string"
    assert version.cog_version == "0.23.1"
    assert version.predictor_ref == "predict.py:Predictor"
    assert version.artifact_size > 0


def test_pushing_identical_content_again_is_a_no_op(cast, tmp_path):
    directory = model_dir(tmp_path / "hello")
    push("acme/hello", str(directory))
    output = push("acme/hello", str(directory))
    assert "Unchanged" in output
    assert Version.objects.count() == 1


def test_changed_content_makes_a_new_latest_version(cast, tmp_path):
    directory = model_dir(tmp_path / "hello")
    push("acme/hello", str(directory))
    (directory / "notes.txt").write_text("a new file changes the version id")
    push("acme/hello", str(directory))
    model = Model.objects.get(name="hello")
    assert model.versions.count() == 2
    assert model.latest_version == model.versions.order_by("-created_at", "-pk").first()


def test_the_newer_run_spelling_is_accepted(cast, tmp_path):
    directory = model_dir(
        tmp_path / "runner",
        cog_yaml='run: "predict.py:Runner"\n',
        predict="""
            from cog import BaseRunner

            class Runner(BaseRunner):
                def run(self, n: int = 2) -> int:
                    return n * 2
        """,
    )
    push("alice/runner", str(directory))
    version = Version.objects.get(model__name="runner")
    assert version.predictor_ref == "predict.py:Runner"
    assert version.input_schema["properties"]["n"]["type"] == "integer"


@pytest.mark.parametrize(
    ("cog_yaml", "message"),
    [
        (None, "cog.yaml not found"),
        ("predict: [unclosed\n", "not valid YAML"),
        ("build:\n  gpu: false\n", "needs run:"),
        ('predict: "missing.py:Predictor"\n', "does not exist"),
        ('predict: "predict.py:P"\nrun: "predict.py:P"\n', "both run and predict"),
        (
            'predict: "predict.py:Predictor"\nbuild:\n  system_packages: ["no-such-package-xyz"]\n',
            "no-such-package-xyz",
        ),
    ],
)
def test_bad_cog_yaml_gets_a_clear_error_and_creates_no_version(cast, tmp_path, cog_yaml, message):
    directory = model_dir(tmp_path / "bad", cog_yaml=cog_yaml)
    with pytest.raises(CommandError, match=message):
        push("alice/bad", str(directory))
    assert not Version.objects.exists()


def test_a_predictor_that_fails_to_import_reports_the_error(cast, tmp_path):
    directory = model_dir(tmp_path / "broken", predict="import no_such_module_here\n")
    with pytest.raises(CommandError) as raised:
        push("alice/broken", str(directory))
    assert "could not be loaded" in str(raised.value)
    assert "no_such_module_here" in str(raised.value)
    assert not Version.objects.exists()


def test_an_unsupported_input_type_is_refused(cast, tmp_path):
    directory = model_dir(
        tmp_path / "weird",
        predict="""
        from cog import BasePredictor

        class Thing:
            pass

        class Predictor(BasePredictor):
            def predict(self, thing: Thing) -> str:
                return "no"
    """,
    )
    with pytest.raises(CommandError, match="could not be loaded"):
        push("alice/weird", str(directory))


def test_requirements_that_cannot_install_are_reported(cast, tmp_path):
    directory = model_dir(
        tmp_path / "needy",
        cog_yaml='predict: "predict.py:Predictor"\nbuild:\n  python_requirements: req.txt\n',
    )
    (directory / "req.txt").write_text("this-package-does-not-exist-anywhere-4821==1.0\n")
    with pytest.raises(CommandError, match="requirements failed"):
        push("alice/needy", str(directory))


def test_other_python_versions_and_gpu_only_warn(cast, tmp_path):
    directory = model_dir(
        tmp_path / "gpu",
        cog_yaml='predict: "predict.py:Predictor"\nbuild:\n  gpu: true\n  python_version: "3.12"\n',
    )
    version, created = version_push(model=_model(cast, "gpu"), source_dir=directory)
    assert created
    assert "python_version is 3.12" in version.build_log
    assert "no GPU" in version.build_log


def test_push_needs_an_existing_owner_and_a_directory(cast, tmp_path):
    with pytest.raises(CommandError, match="no user or organization"):
        push("nobody/model", str(model_dir(tmp_path / "m")))
    with pytest.raises(CommandError, match="not a directory"):
        push("alice/model", str(tmp_path / "nowhere"))
    with pytest.raises(CommandError, match="owner/name"):
        push("just-a-name", str(tmp_path))


def test_model_names_must_be_url_safe(cast, tmp_path):
    with pytest.raises(CommandError, match="lowercase"):
        push("alice/Bad Name", str(model_dir(tmp_path / "m")))


def test_symlinks_in_the_directory_are_refused(cast, tmp_path):
    directory = model_dir(tmp_path / "links")
    (directory / "weights.bin").symlink_to("/etc/hostname")
    with pytest.raises(PushError, match="symbolic link"):
        version_push(model=_model(cast, "links"), source_dir=directory)


def _model(cast, name: str) -> Model:
    return Model.objects.create(owner=cast.alice.user.account, name=name)
