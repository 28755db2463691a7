"""apps/runtime/cog_schema.py against Cog itself.

The oracle is cog 0.16.12, the last release that built the OpenAPI schema in Python at run
time (FastAPI + pydantic v2): ``python -m cog.command.openapi_schema`` run in the model
directory reads ``predict:`` from ./cog.yaml, imports the predictor and prints the schema that
its HTTP server would serve, with no Docker and no Go CLI. It is installed once into a
virtualenv under $SELFREP_CACHE_DIR (default ~/.cache/selfrep)/oracle/cog-0.16.12 and reused.

For every signature in PARITY_CASES the Input, Output and enum components (x-cog-* keys
included) of our document must equal the oracle's after the normalisations in ``normalise``,
each of which is a known, legitimate difference between the two generators. Real differences
in meaning between 0.16.12 and 0.23.1 are not normalised away: they have their own tests
below (``test_divergence_*``) that pin both sides. Features the oracle cannot express
(BaseRunner/run(), accept=, @cog.streaming, @cog.concurrent, nullable unions) are checked
against the shapes documented in shared/docs/cog.md (A.2-A.6), which follow
pkg/schema/openapi_spec.go.
"""

from __future__ import annotations

import copy
import fcntl
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "apps" / "runtime" / "cog_schema.py"
SIGNATURES = Path(__file__).resolve().with_name("signatures")
ORACLE_COG_VERSION = "0.16.12"
OURS_COG_VERSION = "0.23.1"

# Components that are not derived from the signature; 0.16.12's differ by design (its
# PredictionRequest has webhook fields and a WebhookEvent enum, see cog.md A.6 "Legacy").
FIXED_COMPONENTS = {
    "PredictionRequest",
    "PredictionResponse",
    "Status",
    "HTTPValidationError",
    "ValidationError",
    "WebhookEvent",
}

PARITY_CASES = [
    "primitives_required",  # str/int/float/bool, no defaults
    "primitives_defaults",  # plain Python defaults, including "" and negatives
    "optional_inputs",  # Optional[...] with None, Input(default=None), no default, a value
    "numeric_constraints",  # ge/le on int and float, one-sided bounds, descriptions
    "string_constraints",  # min_length/max_length/regex
    "choices_str",  # enum component, with and without default
    "choices_int",
    "deprecated_inputs",
    "path_inputs",  # Path, Optional[Path], URL default
    "file_input",  # File (deprecated type)
    "secret_input",  # Secret with and without default
    "list_inputs",  # List[str], list[int] with default, List[float]
    "list_path_inputs",  # List[Path], list[Path]; List[Path] output
    "union_inputs",  # Union[str, int], Union[int, List[str]], Union[bool, float]
    "iterator_output",  # Iterator[str]
    "iterator_path_output",  # Iterator[Path]
    "concatenate_iterator_output",  # ConcatenateIterator[str]
    "async_concatenate_iterator_output",  # async setup/predict, AsyncConcatenateIterator[str]
    "basemodel_output",  # class Output(BaseModel) with every field kind
    "basemodel_named_output",  # BaseModel named otherwise, fields with defaults
    "list_output",  # List[int]
    "path_output",  # Path
    "float_output",
    "dict_output",  # dict
    "realistic_sdxl",  # a typical image model: choices from a constant, setup(), List[Path]
]


# ---------------------------------------------------------------------------
# Running both generators
# ---------------------------------------------------------------------------


def clean_env() -> dict[str, str]:
    """No COG_* variables (0.16.12 reads COG_PREDICT_TYPE_STUB), no bytecode in the fixtures."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("COG_")}
    env.pop("PYTHONPATH", None)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def cache_dir() -> Path:
    return Path(os.environ.get("SELFREP_CACHE_DIR") or Path.home() / ".cache" / "selfrep")


def ensure_oracle() -> Path:
    """The oracle's python, installing cog==0.16.12 into its own virtualenv the first time.

    A file lock serialises concurrent test runs; the marker file is written last, so a venv
    left half-built by an interrupted run is rebuilt rather than trusted.
    """
    root = cache_dir() / "oracle"
    target = root / f"cog-{ORACLE_COG_VERSION}"
    python = target / "bin" / "python"
    marker = target / ".selfrep-complete"
    if marker.is_file() and python.exists():
        return python
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f"cog-{ORACLE_COG_VERSION}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.is_file() and python.exists():
            return python
        shutil.rmtree(target, ignore_errors=True)
        steps = [
            [sys.executable, "-m", "venv", str(target)],
            [
                str(python),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                f"cog=={ORACLE_COG_VERSION}",
            ],
            [str(python), "-c", "import cog; print(cog.__version__)"],
        ]
        for argv in steps:
            result = subprocess.run(argv, capture_output=True, text=True, timeout=900)
            if result.returncode != 0:
                pytest.fail(
                    f"could not set up the cog {ORACLE_COG_VERSION} oracle in {target}: "
                    f"{' '.join(argv)}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
                )
        if result.stdout.strip() != ORACLE_COG_VERSION:
            pytest.fail(f"the oracle venv has cog {result.stdout.strip()!r}")
        marker.write_text(ORACLE_COG_VERSION + "\n")
    return python


def case_dir(case: str) -> Path:
    return SIGNATURES / case


def predictor_ref(case: str) -> str:
    config = yaml.safe_load((case_dir(case) / "cog.yaml").read_text())
    return config.get("run") or config.get("predict") or config["train"]


def run_ours(case: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, str(SCRIPT), *(args or (predictor_ref(case),))]
    return subprocess.run(
        argv, cwd=case_dir(case), env=clean_env(), capture_output=True, text=True, timeout=timeout
    )


def schema_of(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return json.loads(result.stdout)


@pytest.fixture(scope="session")
def oracle_python() -> Path:
    return ensure_oracle()


@pytest.fixture(scope="session")
def oracle(oracle_python: Path) -> Callable[[str], dict[str, Any]]:
    """case -> the schema cog 0.16.12 builds for it (each case is run once per session)."""
    cache: dict[str, dict[str, Any]] = {}

    def get(case: str) -> dict[str, Any]:
        if case not in cache:
            result = subprocess.run(
                [str(oracle_python), "-m", "cog.command.openapi_schema"],
                cwd=case_dir(case),
                env=clean_env(),
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert result.returncode == 0, f"oracle failed on {case}:\n{result.stderr[-4000:]}"
            cache[case] = json.loads(result.stdout)
        return cache[case]

    return get


@pytest.fixture(scope="session")
def ours() -> Callable[[str], dict[str, Any]]:
    cache: dict[str, dict[str, Any]] = {}

    def get(case: str) -> dict[str, Any]:
        if case not in cache:
            cache[case] = schema_of(run_ours(case))
        return cache[case]

    return get


# ---------------------------------------------------------------------------
# Normalisation: only differences that are known and legitimate
# ---------------------------------------------------------------------------


def canonical(value: Any) -> Any:
    """JSON numbers compare by value: 1 and 1.0 are one number (pydantic keeps `ge=1` as
    written where cog 0.23 stores ge/le as float; Go writes float64 1 as `1`). Booleans stay
    distinct from integers, which a plain == would not do."""
    if isinstance(value, dict):
        return {k: canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        return [canonical(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def normalise(document: dict[str, Any]) -> dict[str, Any]:
    """The signature-derived components of a document, in a form both versions agree on.

    Key order is not compared (dict equality); property order is compared separately.
    """
    schemas = copy.deepcopy(document["components"]["schemas"])
    inlined: set[str] = set()

    output = schemas["Output"]
    if set(output) == {"$ref"}:
        # pydantic makes a BaseModel output its own component named after the class and
        # points Output at it; the Go generator (and ours) inline it as Output itself.
        name = output["$ref"].rsplit("/", 1)[-1]
        output = {**schemas[name], "title": "Output"}
        inlined.add(name)
    if output.get("additionalProperties") is True:
        # pydantic spells out `additionalProperties: true` for dict, the JSON Schema default.
        del output["additionalProperties"]
    for prop in output.get("properties", {}).values():
        # pydantic copies BaseModel field defaults into the schema; the Go generator only uses
        # them to leave the field out of `required` (which is still compared).
        prop.pop("default", None)

    inputs = schemas["Input"]
    # FastAPI writes `required: []`; the Go generator leaves an empty list out.
    inputs.setdefault("required", [])
    for prop in inputs["properties"].values():
        if prop.get("nullable") and "default" in prop and prop["default"] is None:
            # An explicit None default on an Optional input: the Go generator writes
            # `"default": null` (TestNoneDefaultOnOptionalTypeEmitsNull); cog 0.16.12 leaves
            # it out. Same meaning: the input may be omitted and is then None.
            del prop["default"]

    enums = {
        name: schema
        for name, schema in schemas.items()
        if name not in FIXED_COMPONENTS | inlined | {"Input", "Output"}
    }
    return canonical({"Input": inputs, "Output": output, "enums": enums})


# ---------------------------------------------------------------------------
# Parity with cog 0.16.12
# ---------------------------------------------------------------------------


def test_oracle_is_cog_0_16_12(oracle_python: Path) -> None:
    result = subprocess.run(
        [str(oracle_python), "-c", "import cog, pydantic; print(cog.__version__)"],
        capture_output=True,
        text=True,
    )
    assert result.stdout.strip() == ORACLE_COG_VERSION


@pytest.mark.parametrize("case", PARITY_CASES)
def test_schema_matches_cog_0_16_12(case: str, oracle: Callable, ours: Callable) -> None:
    expected = normalise(oracle(case))
    actual = normalise(ours(case))
    assert actual["Input"] == expected["Input"]
    assert actual["Output"] == expected["Output"]
    assert actual["enums"] == expected["enums"]
    # Inputs appear in signature order in both, and x-order numbers them from 0.
    assert list(actual["Input"]["properties"]) == list(expected["Input"]["properties"])
    orders = [p["x-order"] for p in actual["Input"]["properties"].values()]
    assert orders == list(range(len(orders)))


def test_each_normalisation_is_still_needed(oracle: Callable, ours: Callable) -> None:
    """If a version stops differing, its normalisation should go: each one is pinned here."""
    old = oracle("basemodel_named_output")["components"]["schemas"]
    assert old["Output"] == {"$ref": "#/components/schemas/Result"}
    assert old["Result"]["properties"]["n_tokens"]["default"] == 0
    assert oracle("dict_output")["components"]["schemas"]["Output"]["additionalProperties"] is True
    assert oracle("optional_inputs")["components"]["schemas"]["Input"]["required"] == []
    assert "required" not in ours("optional_inputs")["components"]["schemas"]["Input"]
    old_prompt = oracle("optional_inputs")["components"]["schemas"]["Input"]["properties"]["prompt"]
    new_prompt = ours("optional_inputs")["components"]["schemas"]["Input"]["properties"]["prompt"]
    assert "default" not in old_prompt
    assert new_prompt["default"] is None
    # Input() without a default stays without one on both sides.
    seed = ours("optional_inputs")["components"]["schemas"]["Input"]["properties"]["seed"]
    assert "default" not in seed


def test_parity_cases_cover_the_matrix(ours: Callable) -> None:
    """The cases above really exercise every schema feature the brief lists."""
    seen: set[str] = set()
    for case in PARITY_CASES:
        schemas = ours(case)["components"]["schemas"]
        text = json.dumps({k: v for k, v in schemas.items() if k not in FIXED_COMPONENTS})
        for key in [
            '"default"',
            '"nullable"',
            '"minimum"',
            '"maximum"',
            '"minLength"',
            '"maxLength"',
            '"pattern"',
            '"allOf"',
            '"deprecated"',
            '"format": "uri"',
            '"format": "password"',
            '"x-cog-secret"',
            '"writeOnly"',
            '"x-cog-array-type": "iterator"',
            '"x-cog-array-display": "concatenate"',
            '"anyOf"',
            '"type": "array"',
        ]:
            if key in text:
                seen.add(key)
    assert len(seen) == 17, seen


# ---------------------------------------------------------------------------
# Real differences between 0.16.12 and 0.23.1 (pinned on both sides)
# ---------------------------------------------------------------------------


def test_divergence_none_default_on_non_optional(oracle: Callable, ours: Callable) -> None:
    """`seed: int = Input(default=None)`, `image: Path = None`: 0.16.12 made these optional;
    the Go generator makes them required with no default (cog.md A.6), except a bare Secret
    with default=None, which it makes nullable with `default: null`."""
    old = oracle("none_defaults")["components"]["schemas"]["Input"]
    new = ours("none_defaults")["components"]["schemas"]["Input"]
    assert old["required"] == ["prompt"]
    for name in ["seed", "image", "document", "api_key"]:
        assert "default" not in old["properties"][name]
        assert "nullable" not in old["properties"][name]

    assert new["required"] == ["prompt", "seed", "image", "document"]
    for name in ["seed", "image", "document"]:
        assert "default" not in new["properties"][name]
        assert "nullable" not in new["properties"][name]
    assert new["properties"]["api_key"] == {
        "default": None,
        "format": "password",
        "nullable": True,
        "title": "Api Key",
        "type": "string",
        "writeOnly": True,
        "x-cog-secret": True,
        "x-order": 4,
    }
    assert new["properties"]["seed"]["description"] == "Random seed"


def test_divergence_titles_of_non_snake_case_names(oracle: Callable, ours: Callable) -> None:
    """pydantic titles with str.title(); Go's TitleCase only upper-cases after "_"."""
    old = oracle("camel_case_titles")["components"]["schemas"]["Input"]["properties"]
    new = ours("camel_case_titles")["components"]["schemas"]["Input"]["properties"]
    assert [p["title"] for p in old.values()] == ["Maxtokens", "V2Beta", "Top P"]
    assert [p["title"] for p in new.values()] == ["MaxTokens", "V2beta", "Top P"]


def test_divergence_any_output(oracle: Callable, ours: Callable) -> None:
    """`-> Any`: 0.16.12 (and cog 0.23's Python inspector) give no type; the Go generator,
    which writes the schema images carry, gives an opaque object."""
    assert oracle("any_output")["components"]["schemas"]["Output"] == {"title": "Output"}
    assert ours("any_output")["components"]["schemas"]["Output"] == {
        "title": "Output",
        "type": "object",
    }


# ---------------------------------------------------------------------------
# 0.23-only features, against the documented shape (cog.md A.2-A.6, openapi_spec.go)
# ---------------------------------------------------------------------------


def test_full_document_shape(ours: Callable) -> None:
    doc = ours("runner_run")
    assert list(doc) == ["components", "info", "openapi", "paths", "x-selfrep"]
    assert doc["openapi"] == "3.0.2"
    assert doc["info"] == {"title": "Cog", "version": OURS_COG_VERSION}
    schemas = doc["components"]["schemas"]
    assert list(schemas) == [
        "Input",
        "Output",
        "style",
        "PredictionRequest",
        "PredictionResponse",
        "Status",
        "HTTPValidationError",
        "ValidationError",
    ]
    assert schemas["PredictionRequest"] == {
        "properties": {
            "id": {"title": "Id", "type": "string"},
            "input": {"$ref": "#/components/schemas/Input"},
        },
        "title": "PredictionRequest",
        "type": "object",
    }
    response = schemas["PredictionResponse"]["properties"]
    assert set(response) == {
        "input",
        "output",
        "id",
        "version",
        "created_at",
        "started_at",
        "completed_at",
        "status",
        "error",
        "logs",
        "metrics",
    }
    assert response["output"] == {"$ref": "#/components/schemas/Output"}
    assert response["created_at"] == {
        "format": "date-time",
        "title": "Created At",
        "type": "string",
    }
    assert schemas["Status"]["enum"] == [
        "starting",
        "processing",
        "succeeded",
        "canceled",
        "failed",
    ]
    assert schemas["HTTPValidationError"]["properties"]["detail"]["items"] == {
        "$ref": "#/components/schemas/ValidationError"
    }
    assert schemas["ValidationError"]["required"] == ["loc", "msg", "type"]

    paths = doc["paths"]
    assert list(paths) == [
        "/",
        "/health-check",
        "/predictions",
        "/predictions/{prediction_id}/cancel",
    ]
    assert paths["/"]["get"]["operationId"] == "root__get"
    assert paths["/health-check"]["get"]["operationId"] == "healthcheck_health_check_get"
    post = paths["/predictions"]["post"]
    assert post["operationId"] == "predict_predictions_post"
    assert post["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/PredictionRequest"
    }
    assert post["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/PredictionResponse"
    }
    assert post["responses"]["422"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/HTTPValidationError"
    }
    assert "x-cog-streaming" not in post
    cancel = paths["/predictions/{prediction_id}/cancel"]["post"]
    assert cancel["parameters"] == [
        {
            "in": "path",
            "name": "prediction_id",
            "required": True,
            "schema": {"title": "Prediction Id", "type": "string"},
        }
    ]
    assert doc["x-selfrep"] == {
        "cog_version": OURS_COG_VERSION,
        "concurrency_max": None,
        "predictor": "predict.py:Runner",
        "train": False,
    }


def test_keys_are_ordered_like_the_go_generator() -> None:
    """Plain maps sorted (Go's encoding/json), ordered maps (components, paths, properties) as
    built; the raw text is what gets written to .cog/openapi_schema.json."""
    doc = json.loads(run_ours("runner_run").stdout)
    for prop in doc["components"]["schemas"]["Input"]["properties"].values():
        assert list(prop) == sorted(prop)
    assert list(doc["components"]["schemas"]["Input"]) == sorted(
        doc["components"]["schemas"]["Input"]
    )


def test_runner_run_inputs(ours: Callable) -> None:
    schemas = ours("runner_run")["components"]["schemas"]
    assert schemas["Input"] == {
        "properties": {
            "prompt": {"description": "Prompt", "title": "Prompt", "type": "string", "x-order": 0},
            "steps": {
                "default": 4,
                "maximum": 50,
                "minimum": 1,
                "title": "Steps",
                "type": "integer",
                "x-order": 1,
            },
            "style": {
                "allOf": [{"$ref": "#/components/schemas/style"}],
                "default": "photo",
                "x-order": 2,
            },
            "image": {
                "default": None,
                "format": "uri",
                "nullable": True,
                "title": "Image",
                "type": "string",
                "x-cog-accept": "image/*",
                "x-order": 3,
            },
        },
        "required": ["prompt"],
        "title": "Input",
        "type": "object",
    }
    assert schemas["style"] == {
        "description": "An enumeration.",
        "enum": ["photo", "anime"],
        "title": "style",
        "type": "string",
    }
    assert schemas["Output"] == {"title": "Output", "type": "string"}


def test_reference_without_class_prefers_runner() -> None:
    both = "runner_and_predictor"
    runner = schema_of(run_ours(both, "predict.py"))
    assert list(runner["components"]["schemas"]["Input"]["properties"]) == ["text"]
    assert runner["x-selfrep"]["predictor"] == "predict.py"
    predictor = schema_of(run_ours(both, "predict.py:Predictor"))
    assert list(predictor["components"]["schemas"]["Input"]["properties"]) == ["number"]
    assert predictor["components"]["schemas"]["Output"] == {"title": "Output", "type": "integer"}
    # Only a Predictor: that one is used.
    legacy = schema_of(run_ours("primitives_required", "predict.py"))
    assert list(legacy["components"]["schemas"]["Input"]["properties"])[0] == "text"


def test_accept(ours: Callable) -> None:
    props = ours("accept_inputs")["components"]["schemas"]["Input"]["properties"]
    accepts = {name: p.get("x-cog-accept") for name, p in props.items()}
    assert accepts == {
        "prompt": None,
        "image": "image/*",
        "audio": "audio/wav,audio/mp3",
        "weights": ".safetensors,.bin",
        "frames": "image/png",
    }
    assert props["frames"]["items"] == {"format": "uri", "type": "string"}
    assert props["weights"]["nullable"] is True


def test_streaming_decorator(ours: Callable) -> None:
    doc = ours("streaming")
    assert doc["paths"]["/predictions"]["post"]["x-cog-streaming"] is True
    assert doc["components"]["schemas"]["Output"] == {
        "items": {"type": "string"},
        "title": "Output",
        "type": "array",
        "x-cog-array-display": "concatenate",
        "x-cog-array-type": "iterator",
    }
    assert doc["x-selfrep"]["concurrency_max"] is None


def test_streaming_through_aliases_and_concurrency(ours: Callable) -> None:
    """`from cog import streaming as stream` + `@stream()`, async generator, @concurrent(max=4)."""
    doc = ours("streaming_alias")
    assert doc["paths"]["/predictions"]["post"]["x-cog-streaming"] is True
    assert doc["components"]["schemas"]["Output"] == {
        "items": {"type": "string"},
        "title": "Output",
        "type": "array",
        "x-cog-array-type": "iterator",
    }
    assert doc["x-selfrep"]["concurrency_max"] == 4


def test_iterator_without_streaming_decorator(ours: Callable) -> None:
    doc = ours("iterator_not_streaming")
    assert "x-cog-streaming" not in doc["paths"]["/predictions"]["post"]
    assert doc["components"]["schemas"]["Output"]["x-cog-array-type"] == "iterator"
    assert doc["x-selfrep"]["concurrency_max"] == 1  # bare @cog.concurrent


def test_nullable_union(ours: Callable) -> None:
    """Go marks every variant of a nullable union nullable, as well as the union itself."""
    inputs = ours("nullable_union")["components"]["schemas"]["Input"]
    assert inputs["properties"]["value"] == {
        "anyOf": [{"nullable": True, "type": "string"}, {"nullable": True, "type": "integer"}],
        "default": None,
        "nullable": True,
        "title": "Value",
        "x-order": 0,
    }
    assert inputs["properties"]["limit"]["anyOf"] == [
        {"nullable": True, "type": "string"},
        {"nullable": True, "type": "number"},
    ]
    # A union with no default is required even when nullable (openapi_spec.go).
    assert inputs["required"] == ["limit"]


def test_basemodel_fields_with_defaults_are_not_required(ours: Callable) -> None:
    output = ours("basemodel_named_output")["components"]["schemas"]["Output"]
    assert list(output["properties"]) == ["caption", "mask", "n_tokens", "confidence"]
    assert output["required"] == ["caption", "mask"]
    assert output["properties"]["mask"] == {"format": "uri", "title": "Mask", "type": "string"}
    assert output["properties"]["confidence"] == {
        "nullable": True,
        "title": "Confidence",
        "type": "number",
    }
    assert "Result" not in ours("basemodel_named_output")["components"]["schemas"]


def test_prints_during_import_go_to_stderr() -> None:
    """print(), sys.stdout and os.write(1) at import, an atexit print, a lingering thread."""
    result = run_ours("noisy_import", timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    doc = json.loads(result.stdout)
    assert doc["components"]["schemas"]["Input"]["required"] == ["text"]
    assert "hello from the predictor module" in result.stderr
    assert "{not json" in result.stderr
    assert "native write to fd 1" in result.stderr
    assert "goodbye from atexit" not in result.stdout


def test_training_function() -> None:
    doc = schema_of(run_ours("train_function", "train.py:train", "--train"))
    schemas = doc["components"]["schemas"]
    assert list(schemas)[:4] == [
        "TrainingInput",
        "TrainingOutput",
        "TrainingRequest",
        "TrainingResponse",
    ]
    assert schemas["TrainingInput"]["required"] == ["dataset"]
    assert schemas["TrainingOutput"]["properties"]["weights"]["format"] == "uri"
    assert list(doc["paths"]) == [
        "/",
        "/health-check",
        "/trainings",
        "/trainings/{training_id}/cancel",
    ]
    assert doc["x-selfrep"]["train"] is True


# ---------------------------------------------------------------------------
# Errors: one JSON object on stdout, exit status 2
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "ref", "message"),
    [
        ("error_import", "predict.py:Runner", "No module named 'selfrep_no_such_module'"),
        ("error_exit_on_import", "predict.py:Runner", "the predictor refuses to load"),
        ("error_unsupported_type", "predict.py:Runner", "unsupported Cog type Color"),
        ("error_no_return", "predict.py:Runner", "run() must have a return type annotation"),
        ("error_unannotated", "predict.py:Runner", "missing type annotation for input: text"),
        ("error_run_and_predict", "predict.py:Runner", "either run() or predict(), not both"),
        ("error_invalid_default", "predict.py:Runner", "must be at minimum 1"),
        ("error_accept_non_file", "predict.py:Runner", "accept is only valid on Path or File"),
        ("error_streaming_non_iterator", "predict.py:Runner", "@streaming requires Iterator"),
        ("error_no_runner", "predict.py:Runner", "'Runner' not found in predict.py"),
        ("error_no_runner", "predict.py", "neither a Runner nor a Predictor"),
        ("primitives_required", "predict.py:Nope", "'Nope' not found in predict.py"),
        ("primitives_required", "missing.py:Predictor", "predictor file not found: missing.py"),
    ],
)
def test_errors(case: str, ref: str, message: str) -> None:
    result = run_ours(case, ref)
    assert result.returncode == 2, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert set(report) == {"error", "traceback"}
    assert message in report["error"]
    assert "\n" not in report["error"]
    assert report["traceback"].startswith("Traceback (most recent call last):")


def test_import_error_traceback_shows_the_predictor_line() -> None:
    report = json.loads(run_ours("error_import").stdout)
    assert "import selfrep_no_such_module" in report["traceback"]
    assert "ModuleNotFoundError" in report["traceback"]


def test_usage_error() -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT)], capture_output=True, text=True, env=clean_env()
    )
    assert result.returncode == 2
    assert json.loads(result.stdout)["error"].startswith("usage:")
