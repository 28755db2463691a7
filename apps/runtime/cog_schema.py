"""Print the OpenAPI document that Cog would build for a predictor.

Usage (run with the python of the model's environment, cwd = the model directory)::

    python cog_schema.py predict.py:Predictor
    python cog_schema.py predict.py          # prefers class Runner, then Predictor
    python cog_schema.py train.py:train --train

This file is a standalone script: it imports only the standard library and ``cog`` (never
Django, never the platform), because it runs inside a model's own environment. That is also
why it is the one module of apps/ allowed over 500 lines (tests/test_code_quality.py): it is
copied into the sandbox as one file, and modules of ours that import each other would need
the platform's package on the model's path.

Types, defaults and constraints come from Cog's own runtime inspector
(``cog._inspector.create_predictor`` and the ``cog._adt`` types it returns). The document is
laid out the way the Go generator of ``cog build`` (``pkg/schema/openapi_spec.go``) writes
``.cog/openapi_schema.json``, including its key order, which coglet reads to validate inputs
and to enable SSE. A few things only the Go generator knows are reproduced here:

* ``@cog.streaming`` is a runtime no-op, so it is detected statically with ``ast``, like
  ``cog build`` does with tree-sitter (``x-cog-streaming: true`` on ``POST /predictions``).
* ``Input()`` and ``Input(default=None)`` are the same object at run time; the source tells
  them apart (only an explicit ``None`` default is emitted as ``"default": null``).
* ``accept=`` is not carried into ``cog._adt.InputField``; it is read from the ``Input()``.
* ``BaseModel`` output fields with a default are not ``required``; ``Any`` output is
  ``{"type": "object"}``; titles use Go's ``TitleCase`` (``snake_case`` -> ``Snake Case``).

On success the document goes to stdout and the exit status is 0. On any failure one JSON
object ``{"error": ..., "traceback": ...}`` goes to stdout and the exit status is 2. Whatever
the predictor prints while it is imported goes to stderr.
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import enum
import importlib.util
import inspect
import json
import os
import sys
import traceback
import typing
import warnings
from collections.abc import Callable
from typing import Any

EXIT_ERROR = 2


class SchemaGenerationError(Exception):
    """A problem with the predictor, reported as the one-line ``error``."""


class Ordered(dict):
    """A JSON object whose key order is kept (Go's ordered maps); others are sorted by key."""


# ---------------------------------------------------------------------------
# Output plumbing: stdout belongs to the document only.
# ---------------------------------------------------------------------------


def claim_stdout() -> typing.TextIO:
    """Keep the real stdout for the document; send fd 1 to stderr for good.

    Python and native writes to fd 1 alike (the predictor's prints at import, a library's
    atexit messages) then land on stderr and cannot corrupt the JSON.
    """
    sys.stdout.flush()
    document_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return os.fdopen(document_fd, "w", encoding="utf-8")


def go_json(value: Any) -> Any:
    """Order keys the way Go's encoding/json does: plain maps sorted, ordered maps as built."""
    if isinstance(value, Ordered):
        return {k: go_json(v) for k, v in value.items()}
    if isinstance(value, dict):
        return {k: go_json(value[k]) for k in sorted(value)}
    if isinstance(value, list | tuple):
        return [go_json(v) for v in value]
    return value


def one_line(text: str) -> str:
    return " ".join(str(text).split())


def describe(exc: BaseException) -> str:
    message = one_line(str(exc))
    name = type(exc).__name__
    return f"{name}: {message}" if message else name


# ---------------------------------------------------------------------------
# Loading the predictor
# ---------------------------------------------------------------------------


def parse_ref(ref: str) -> tuple[str, str | None]:
    path, sep, name = ref.partition(":")
    if not path:
        raise SchemaGenerationError(f"invalid predictor reference {ref!r}: no file")
    if sep and not name:
        raise SchemaGenerationError(f"invalid predictor reference {ref!r}: empty class name")
    return path, (name or None)


def import_predictor_module(path: str) -> tuple[str, Any]:
    """Import the predictor file the way cog.predictor.load_predictor_from_ref does."""
    if not os.path.isfile(path):
        raise SchemaGenerationError(f"predictor file not found: {path} (cwd {os.getcwd()})")
    module_name = os.path.basename(path).removesuffix(".py")
    # The model directory (and the file's own) must be importable, as under coglet.
    for entry in (os.path.dirname(os.path.abspath(path)), os.getcwd()):
        if entry not in sys.path:
            sys.path.insert(0, entry)
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise SchemaGenerationError(f"cannot load a Python module from {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException as exc:
        sys.modules.pop(module_name, None)
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise SchemaGenerationError(
            f"failed to import predictor module {path}: {describe(exc)}"
        ) from exc
    return module_name, module


def choose_class_name(module: Any, path: str) -> str:
    """No class given: Runner if it is a usable runner, else Predictor (as cog does)."""
    from cog import predictor as cog_predictor

    runner = getattr(module, "Runner", None)
    runner_error: Exception | None = None
    if inspect.isclass(runner):
        runner_error = cog_predictor._runner_class_validation_error(runner, "Runner")
        if runner_error is None:
            return "Runner"
    elif runner is not None and callable(runner):
        return "Runner"
    if hasattr(module, "Predictor"):
        return "Predictor"
    if runner_error is not None:
        raise SchemaGenerationError(f"invalid Runner in {path}: {describe(runner_error)}")
    raise SchemaGenerationError(f"{path} defines neither a Runner nor a Predictor class")


def target_function(module: Any, module_name: str, name: str, train: bool) -> Callable[..., Any]:
    """The run/predict (or train) function Cog inspects, before unwrapping decorators."""
    from cog import _inspector

    target = getattr(module, name)
    if not inspect.isclass(target):
        return target
    if train and inspect.isfunction(getattr(target, "train", None)):
        return target.train
    with warnings.catch_warnings():  # create_predictor has already warned about the names
        warnings.simplefilter("ignore", DeprecationWarning)
        _, fn = _inspector._selected_predict_method(target, f"{module_name}.{name}")
    return fn


# ---------------------------------------------------------------------------
# What only the source says: @cog.streaming and explicit defaults
# ---------------------------------------------------------------------------


def find_function_node(fn: Callable[..., Any]) -> tuple[ast.AST | None, ast.Module | None]:
    """Locate ``def fn`` in its file: same name, starting (decorators included) at its line."""
    try:
        filename = inspect.getsourcefile(fn)
        if filename is None:
            return None, None
        with open(filename, encoding="utf-8") as handle:
            tree = ast.parse(handle.read(), filename=filename)
    except (OSError, TypeError, SyntaxError, ValueError):
        return None, None
    first_line = fn.__code__.co_firstlineno
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == fn.__name__:
            start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            if start == first_line or node.lineno == first_line:
                return node, tree
    return None, None


def cog_import_names(tree: ast.Module) -> tuple[set[str], set[str]]:
    """Local names bound to module ``cog`` and to ``cog.streaming`` by top-level imports."""
    modules: set[str] = set()
    streaming: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "cog":
                    modules.add(alias.asname or "cog")
        elif isinstance(node, ast.ImportFrom) and node.module == "cog" and not node.level:
            for alias in node.names:
                if alias.name == "streaming":
                    streaming.add(alias.asname or "streaming")
    return modules, streaming


def has_streaming_decorator(node: ast.AST | None, tree: ast.Module | None) -> bool:
    """True for ``@streaming``/``@cog.streaming`` (called or not), resolved through imports."""
    if node is None or tree is None:
        return False
    modules, streaming = cog_import_names(tree)
    for decorator in getattr(node, "decorator_list", []):
        expr = decorator.func if isinstance(decorator, ast.Call) else decorator
        if isinstance(expr, ast.Name) and expr.id in streaming:
            return True
        if (
            isinstance(expr, ast.Attribute)
            and expr.attr == "streaming"
            and isinstance(expr.value, ast.Name)
            and expr.value.id in modules
        ):
            return True
    return False


def explicit_none_defaults(node: ast.AST | None) -> set[str]:
    """Parameters that spell out a default: ``= value`` or ``Input(value)``/``Input(default=...)``.

    Consulted only when the inspector's default is None: ``Input()`` without a default also
    leaves ``FieldInfo.default`` at None at run time, and the Go generator treats that as "no
    default" but an explicit ``None`` as ``"default": null`` (on nullable inputs).
    """
    if node is None:
        return set()
    args = node.args  # type: ignore[attr-defined]
    positional = [*args.posonlyargs, *args.args]
    with_defaults = positional[len(positional) - len(args.defaults) :]
    explicit: set[str] = set()
    for arg, default in zip(with_defaults, args.defaults, strict=True):
        if isinstance(default, ast.Call):
            if default.args or any(k.arg == "default" for k in default.keywords):
                explicit.add(arg.arg)
        else:
            explicit.add(arg.arg)
    return explicit


# ---------------------------------------------------------------------------
# Building the document
# ---------------------------------------------------------------------------


def title_case(name: str) -> str:
    """Go's schema.TitleCase: split on "_", upper-case each part's first letter, join with " "."""
    return " ".join(p[:1].upper() + p[1:] if p else p for p in name.split("_"))


def raw_field_infos(fn: Callable[..., Any], is_class_fn: bool) -> dict[str, Any]:
    """The default objects as written in the signature (FieldInfo or a plain value)."""
    spec = inspect.getfullargspec(fn)
    names = spec.args[1:] if is_class_fn else spec.args
    defaults = list(spec.defaults or [])
    missing = object()
    values = [missing] * (len(names) - len(defaults)) + defaults
    return {n: v for n, v in zip(names, values, strict=True) if v is not missing}


def json_default(value: Any, field_type: Any, raw: Any) -> Any:
    """The JSON value of a normalized default (Path/File/Secret: as written)."""
    from cog import _adt
    from cog.input import FieldInfo
    from cog.types import Secret

    if isinstance(value, dataclasses.Field):
        if value.default is not dataclasses.MISSING:
            value = value.default
        elif value.default_factory is not dataclasses.MISSING:
            value = value.default_factory()
    file_like = {_adt.PrimitiveType.PATH, _adt.PrimitiveType.FILE, _adt.PrimitiveType.SECRET}
    if field_type.primitive in file_like:
        value = raw.default if isinstance(raw, FieldInfo) else raw

    def encode(v: Any) -> Any:
        if isinstance(v, Secret):
            return v.get_secret_value()
        if isinstance(v, os.PathLike):
            return str(v)
        if isinstance(v, list | tuple | set | frozenset):
            return [encode(x) for x in v]
        if isinstance(v, dict):
            return {str(k): encode(x) for k, x in v.items()}
        if isinstance(v, enum.Enum):
            return encode(v.value)
        return v

    return encode(value)


def field_type_schema(field_type: Any) -> dict[str, Any]:
    """JSON schema of a cog._adt.FieldType (unions as Go writes them)."""
    from cog import _adt

    if field_type.union_variants is not None:
        nullable = field_type.repetition is _adt.Repetition.OPTIONAL
        variants = []
        for variant in field_type.union_variants:
            schema = dict(variant.json_type())
            if nullable:
                schema["nullable"] = True
            variants.append(schema)
        result: dict[str, Any] = {"anyOf": variants}
        if nullable:
            result["nullable"] = True
        return result
    return dict(field_type.json_type())


def input_schema(
    fn: Callable[..., Any], info: Any, is_class_fn: bool, node: ast.AST | None, title: str
) -> tuple[dict[str, Any], list[tuple[str, dict[str, Any]]]]:
    from cog import _adt
    from cog.input import FieldInfo

    raw = raw_field_infos(fn, is_class_fn)
    explicit_none = explicit_none_defaults(node)
    properties = Ordered()
    required: list[str] = []
    enums: list[tuple[str, dict[str, Any]]] = []
    optional_reps = (_adt.Repetition.OPTIONAL, _adt.Repetition.OPTIONAL_REPEATED)

    for name, field in sorted(info.inputs.items(), key=lambda item: item[1].order):
        ft = field.type
        raw_default = raw.get(name, None)
        field_info = raw_default if isinstance(raw_default, FieldInfo) else None
        accept = field_info.accept if field_info is not None else None
        if accept is not None and ft.primitive not in (
            _adt.PrimitiveType.PATH,
            _adt.PrimitiveType.FILE,
        ):
            raise SchemaGenerationError(
                f"accept is only valid on Path or File inputs (parameter '{name}')"
            )

        prop: dict[str, Any] = {"x-order": field.order}
        if field.choices:
            json_type = ft.primitive.json_type().get("type") or "string"
            enums.append(
                (
                    name,
                    {
                        "title": name,
                        "description": "An enumeration.",
                        "enum": list(field.choices),
                        "type": json_type,
                    },
                )
            )
            prop["allOf"] = [{"$ref": f"#/components/schemas/{name}"}]
        else:
            prop["title"] = title_case(name)
            prop.update(field_type_schema(ft))

        # Default: None stands for "none given" unless the source spells it out.
        if field.default is not None:
            default_kind = "value"
        elif name in raw and (name in explicit_none or node is None and field_info is None):
            default_kind = "none"
        else:
            default_kind = "absent"
        is_union = ft.union_variants is not None
        nullable = ft.repetition in optional_reps
        if (
            ft.primitive is _adt.PrimitiveType.SECRET
            and ft.repetition is _adt.Repetition.REQUIRED
            and default_kind == "none"
        ):
            nullable = True  # Go's exception: `key: Secret = Input(default=None)`.
        has_default = default_kind == "value" or (default_kind == "none" and nullable)
        if not has_default and (
            is_union or ft.repetition in (_adt.Repetition.REQUIRED, _adt.Repetition.REPEATED)
        ):
            required.append(name)
        if has_default:
            prop["default"] = (
                None if default_kind == "none" else json_default(field.default, ft, raw_default)
            )
        if nullable:
            prop["nullable"] = True
        if field.description is not None:
            prop["description"] = field.description
        if field.ge is not None:
            prop["minimum"] = field.ge
        if field.le is not None:
            prop["maximum"] = field.le
        if field.min_length is not None:
            prop["minLength"] = field.min_length
        if field.max_length is not None:
            prop["maxLength"] = field.max_length
        if field.regex is not None:
            prop["pattern"] = field.regex
        if field.deprecated:
            prop["deprecated"] = True
        if accept is not None:
            prop["x-cog-accept"] = accept
        properties[name] = prop

    schema: dict[str, Any] = {"title": title, "type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return schema, enums


def model_fields_with_defaults(model: Any) -> set[str]:
    if dataclasses.is_dataclass(model):
        return {
            f.name
            for f in dataclasses.fields(model)
            if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
        }
    model_fields = getattr(model, "model_fields", None)  # a pydantic v2 model
    if isinstance(model_fields, dict):
        return {n for n, f in model_fields.items() if not f.is_required()}
    return set()


def output_schema(info: Any, return_annotation: Any, title: str) -> dict[str, Any]:
    from cog import _adt

    output = info.output
    kind = output.kind
    schema: dict[str, Any]
    if kind is _adt.OutputKind.OBJECT:
        with_defaults = (
            model_fields_with_defaults(return_annotation)
            if inspect.isclass(return_annotation)
            else set()
        )
        properties = Ordered()
        required = []
        for name, ft in output.fields.items():
            prop = field_type_schema(ft)
            optional = ft.repetition in (
                _adt.Repetition.OPTIONAL,
                _adt.Repetition.OPTIONAL_REPEATED,
            )
            if optional:
                prop["nullable"] = True
            elif name not in with_defaults:
                required.append(name)
            prop["title"] = title_case(name)
            properties[name] = prop
        schema = {"type": "object", "properties": properties}
        if required:
            schema["required"] = required
    elif not isinstance(output.type, _adt.PrimitiveType):
        schema = {"type": "object"}  # `-> Any`: Go writes an opaque object.
    else:
        item = dict(output.type.json_type())
        if kind is _adt.OutputKind.SINGLE:
            schema = item
        elif kind is _adt.OutputKind.LIST:
            schema = {"type": "array", "items": item}
        elif kind is _adt.OutputKind.ITERATOR:
            schema = {"type": "array", "items": item, "x-cog-array-type": "iterator"}
        elif kind is _adt.OutputKind.CONCAT_ITERATOR:
            schema = {
                "type": "array",
                "items": item,
                "x-cog-array-type": "iterator",
                "x-cog-array-display": "concatenate",
            }
        else:
            raise SchemaGenerationError(f"unsupported output kind {kind}")
    schema["title"] = title
    return schema


def build_document(
    info: Any,
    fn: Callable[..., Any],
    is_class_fn: bool,
    *,
    streaming: bool,
    node: ast.AST | None,
    return_annotation: Any,
    version: str,
    train: bool,
) -> dict[str, Any]:
    """Mirror of buildOpenAPISpec in cog's pkg/schema/openapi_spec.go."""
    if train:
        endpoint, request_name, response_name = "/trainings", "TrainingRequest", "TrainingResponse"
        cancel_endpoint, cancel_param = "/trainings/{training_id}/cancel", "training_id"
        summary, description = "Train", "Run a single training on the model"
        operation_id = "train_trainings_post"
        cancel_operation_id = "cancel_trainings__training_id__cancel_post"
        input_key, output_key = "TrainingInput", "TrainingOutput"
    else:
        endpoint, request_name = "/predictions", "PredictionRequest"
        response_name = "PredictionResponse"
        cancel_endpoint, cancel_param = "/predictions/{prediction_id}/cancel", "prediction_id"
        summary, description = "Predict", "Run a single prediction on the model"
        operation_id = "predict_predictions_post"
        cancel_operation_id = "cancel_predictions__prediction_id__cancel_post"
        input_key, output_key = "Input", "Output"

    inputs, enums = input_schema(fn, info, is_class_fn, node, input_key)
    components = Ordered()
    components[input_key] = inputs
    components[output_key] = output_schema(info, return_annotation, "Output")
    for name, enum_schema in enums:
        components[name] = enum_schema

    input_ref = f"#/components/schemas/{input_key}"
    output_ref = f"#/components/schemas/{output_key}"
    components[request_name] = {
        "title": request_name,
        "type": "object",
        "properties": {
            "id": {"title": "Id", "type": "string"},
            "input": {"$ref": input_ref},
        },
    }

    def timestamp(title: str) -> dict[str, Any]:
        return {"title": title, "type": "string", "format": "date-time"}

    components[response_name] = {
        "title": response_name,
        "type": "object",
        "properties": {
            "input": {"$ref": input_ref},
            "output": {"$ref": output_ref},
            "id": {"title": "Id", "type": "string"},
            "version": {"title": "Version", "type": "string"},
            "created_at": timestamp("Created At"),
            "started_at": timestamp("Started At"),
            "completed_at": timestamp("Completed At"),
            "status": {"title": "Status", "type": "string"},
            "error": {"title": "Error", "type": "string"},
            "logs": {"title": "Logs", "type": "string"},
            "metrics": {"title": "Metrics", "type": "object"},
        },
    }
    components["Status"] = {
        "title": "Status",
        "description": "An enumeration.",
        "enum": ["starting", "processing", "succeeded", "canceled", "failed"],
        "type": "string",
    }
    validation_error_ref = "#/components/schemas/HTTPValidationError"
    components["HTTPValidationError"] = {
        "title": "HTTPValidationError",
        "type": "object",
        "properties": {
            "detail": {
                "title": "Detail",
                "type": "array",
                "items": {"$ref": "#/components/schemas/ValidationError"},
            }
        },
    }
    components["ValidationError"] = {
        "title": "ValidationError",
        "required": ["loc", "msg", "type"],
        "type": "object",
        "properties": {
            "loc": {
                "title": "Location",
                "type": "array",
                "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
            },
            "msg": {"title": "Message", "type": "string"},
            "type": {"title": "Error Type", "type": "string"},
        },
    }

    def any_json(description: str = "Successful Response") -> dict[str, Any]:
        return {"description": description, "content": {"application/json": {"schema": {}}}}

    def ref_json(ref: str, description: str) -> dict[str, Any]:
        return {
            "description": description,
            "content": {"application/json": {"schema": {"$ref": ref}}},
        }

    main_operation: dict[str, Any] = {
        "summary": summary,
        "description": description,
        "operationId": operation_id,
        "requestBody": {
            "content": {
                "application/json": {"schema": {"$ref": f"#/components/schemas/{request_name}"}}
            }
        },
        "responses": {
            "200": ref_json(f"#/components/schemas/{response_name}", "Successful Response"),
            "422": ref_json(validation_error_ref, "Validation Error"),
        },
    }
    if streaming and not train:
        main_operation["x-cog-streaming"] = True

    paths = Ordered()
    paths["/"] = {
        "get": {"summary": "Root", "operationId": "root__get", "responses": {"200": any_json()}}
    }
    paths["/health-check"] = {
        "get": {
            "summary": "Healthcheck",
            "operationId": "healthcheck_health_check_get",
            "responses": {"200": any_json()},
        }
    }
    paths[endpoint] = {"post": main_operation}
    paths[cancel_endpoint] = {
        "post": {
            "summary": "Cancel",
            "operationId": cancel_operation_id,
            "parameters": [
                {
                    "required": True,
                    "schema": {"title": title_case(cancel_param), "type": "string"},
                    "name": cancel_param,
                    "in": "path",
                }
            ],
            "responses": {
                "200": any_json(),
                "422": ref_json(validation_error_ref, "Validation Error"),
            },
        }
    }
    return {
        "openapi": "3.0.2",
        "info": {"title": "Cog", "version": version},
        "paths": paths,
        "components": {"schemas": components},
    }


def generate(ref: str, train: bool = False) -> dict[str, Any]:
    """The OpenAPI document (plus "x-selfrep") for REF, imported from the current directory."""
    try:
        import cog
        from cog import _inspector
    except Exception as exc:
        raise SchemaGenerationError(
            f"cannot import cog in {sys.executable}: {describe(exc)}"
        ) from exc

    path, class_name = parse_ref(ref)
    module_name, module = import_predictor_module(path)
    if class_name is None:
        class_name = "train" if train and hasattr(module, "train") else None
        class_name = class_name or choose_class_name(module, path)
    if not hasattr(module, class_name):
        raise SchemaGenerationError(f"{class_name!r} not found in {path}")
    target = getattr(module, class_name)
    if not (inspect.isclass(target) or inspect.isfunction(target)):
        raise SchemaGenerationError(f"{path}:{class_name} is not a class or a function")

    # Cog's Python inspector refuses list[SomeModel] and Iterator[SomeModel] outputs, which its
    # build-time generator (and the runtime) accept: inspect the element type, wrap it below.
    collection = _unwrap_model_collection(target, module_name, class_name, train)

    try:
        if train and inspect.isclass(target) and hasattr(target, "train"):
            # Training classes (setup() + train()) are inspected through their train().
            info = _inspector._create_predictor_info(
                module_name, class_name, _inspector._unwrap(target.train), "train", True
            )
        else:
            info = _inspector.create_predictor(module_name, class_name)
    except SchemaGenerationError:
        raise
    except Exception as exc:
        raise SchemaGenerationError(f"invalid predictor {ref}: {describe(exc)}") from exc

    wrapped = target_function(module, module_name, class_name, train)
    fn = _inspector._unwrap(wrapped)
    is_class_fn = inspect.isclass(target)
    node, tree = find_function_node(fn)
    streaming = has_streaming_decorator(node, tree)
    if streaming and info.output.kind not in (
        cog._adt.OutputKind.ITERATOR,
        cog._adt.OutputKind.CONCAT_ITERATOR,
    ):
        raise SchemaGenerationError(
            "@streaming requires Iterator[...], AsyncIterator[...], ConcatenateIterator[...] "
            "or AsyncConcatenateIterator[...] return type"
        )
    try:
        hints = typing.get_type_hints(fn, include_extras=True)
    except Exception:
        hints = getattr(fn, "__annotations__", {})
    return_annotation = _inspector._strip_non_opaque_annotated(hints.get("return"))

    concurrency_max = getattr(wrapped, "__cog_concurrent_max__", None)
    if concurrency_max is None:
        concurrency_max = getattr(fn, "__cog_concurrent_max__", None)

    document = build_document(
        info,
        fn,
        is_class_fn,
        streaming=streaming,
        node=node,
        return_annotation=return_annotation,
        version=cog.__version__,
        train=train,
    )
    if collection is not None:
        _wrap_output(document, collection, "TrainingOutput" if train else "Output")
    document["x-selfrep"] = {
        "cog_version": cog.__version__,
        "predictor": ref,
        "concurrency_max": concurrency_max,
        "train": train,
    }
    return go_json(document)


_MODEL_COLLECTIONS = {
    list: "list",
    typing.List: "list",  # noqa: UP006 (what users write)
    typing.Iterator: "iterator",  # noqa: UP006
    typing.AsyncIterator: "iterator",  # noqa: UP006
}


def _is_output_model(value: Any) -> bool:
    if not inspect.isclass(value):
        return False
    try:
        from cog import BaseModel

        if issubclass(value, BaseModel):
            return True
    except ImportError:
        pass
    return any(
        base.__name__ == "BaseModel" and base.__module__.startswith("pydantic")
        for base in inspect.getmro(value)
    )


def _unwrap_model_collection(target: Any, module_name: str, name: str, train: bool) -> str | None:
    """If the output is a list or iterator of BaseModels, point the function's return annotation
    at the element type (so Cog's inspector describes it) and say which collection it was."""
    import collections.abc

    from cog import _inspector

    try:
        fn = _inspector._unwrap(target_function(sys.modules[module_name], module_name, name, train))
        hints = typing.get_type_hints(fn)
    except Exception:  # noqa: BLE001 (the inspector reports such problems properly)
        return None
    annotation = hints.get("return")
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    kinds = {
        **_MODEL_COLLECTIONS,
        collections.abc.Iterator: "iterator",
        collections.abc.AsyncIterator: "iterator",
    }
    if origin not in kinds or len(args) != 1 or not _is_output_model(args[0]):
        return None
    fn.__annotations__["return"] = args[0]
    return kinds[origin]


def _wrap_output(document: dict[str, Any], collection: str, key: str) -> None:
    schemas = document["components"]["schemas"]
    item = {k: v for k, v in schemas[key].items() if k != "title"}
    wrapped: dict[str, Any] = {"type": "array", "items": item}
    if collection == "iterator":
        wrapped["x-cog-array-type"] = "iterator"
    wrapped["title"] = schemas[key].get("title", key)
    schemas[key] = wrapped


def main(argv: list[str]) -> int:
    args = [a for a in argv if a != "--train"]
    train = len(args) != len(argv)
    out = claim_stdout()
    try:
        if len(args) != 1:
            raise SchemaGenerationError(
                "usage: cog_schema.py REF [--train]  (REF like predict.py:Predictor)"
            )
        document = generate(args[0], train=train)
        text = json.dumps(document, indent=2, default=str)
        status = 0
    except BaseException as exc:  # report everything, even SystemExit from a predictor
        if isinstance(exc, KeyboardInterrupt):
            raise
        message = str(exc) if isinstance(exc, SchemaGenerationError) else describe(exc)
        text = json.dumps({"error": one_line(message), "traceback": traceback.format_exc()})
        status = EXIT_ERROR
    out.write(text + "\n")
    out.close()
    return status


if __name__ == "__main__":
    exit_status = main(sys.argv[1:])
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    # Not sys.exit: a thread the predictor started at import must not keep the process alive.
    os._exit(exit_status)
