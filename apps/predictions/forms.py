"""The playground: a form generated from a version's `Input` schema.

Each input (as `apps.runtime.schema.inputs` reads them) becomes one field (or, for files, an
upload plus a URL alternative), in Cog's `x-order`, with its default, description and HTML
hints. `clean()` turns the fields into the JSON input and checks it with `validate_input`, the
same validation the API uses, putting each problem next to its field. Uploaded files are stored
only once the input is valid.
"""

from __future__ import annotations

import json
import math
import secrets
from dataclasses import dataclass
from typing import Any

from django import forms
from django.conf import settings
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.utils.html import escape

from apps.core import jsonbody
from apps.core.links import stored_file_url
from apps.core.problems import ApiError
from apps.predictions.models import Prediction
from apps.predictions.validation import validate_input
from apps.runtime.schema import Input, inputs

URL_SUFFIX = "__url"  # the URL alternative of a file input `image` is the field `image__url`
LONG_TEXT_NAMES = ("prompt", "text", "message", "system", "context", "instruction", "template")
LONG_TEXT_LENGTH = 200
URL_SCHEMES = ("http://", "https://", "data:")


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    widget = MultipleFileInput

    def clean(self, data, initial=None):
        files = data if isinstance(data, list | tuple) else ([data] if data else [])
        return [super(MultipleFileField, self).clean(f, initial) for f in files]


def _number_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


@dataclass
class InputGroup:
    """One input as the template lays it out: its field, the URL alternative of a file, the
    bounds of a slider."""

    name: str
    kind: str
    field: forms.BoundField
    url_field: forms.BoundField | None = None
    required: bool = False
    type_label: str = ""
    minimum: str = ""
    maximum: str = ""
    step: str = ""

    @property
    def errors(self) -> list[str]:
        errors = list(self.field.errors)
        if self.url_field is not None:
            errors += [e for e in self.url_field.errors if e not in errors]
        return errors

    @property
    def has_range(self) -> bool:
        return bool(self.minimum and self.maximum)


class PlaygroundForm(forms.Form):
    """`schema` is the version's whole OpenAPI document (`Version.openapi_schema`)."""

    def __init__(self, schema: dict, data=None, files=None, initial=None, **kwargs) -> None:
        super().__init__(data=data, files=files, initial=initial, **kwargs)
        self.schema = schema or {}
        self.specs = {spec.name: spec for spec in inputs(self.schema)}
        self._range: dict[str, tuple[str, str, str]] = {}
        for spec in self.specs.values():
            self._add_fields(spec)

    # Building the fields

    def _add_fields(self, spec: Input) -> None:
        name, kind, prop, default = spec.name, spec.kind, spec.schema, spec.default
        label = spec.title
        help_text = escape(spec.description)  # model authors write these
        if prop.get("deprecated"):
            help_text = escape("Deprecated. ") + help_text
        attrs: dict[str, Any] = {"aria-describedby": f"id_{name}_help"} if help_text else {}
        options = {"label": label, "help_text": help_text, "required": False}
        html_required = spec.required and not spec.nullable
        if html_required and kind in ("string", "integer", "number", "choice", "list", "secret"):
            attrs["required"] = True
        builder = getattr(self, f"_field_{kind}")
        self.fields[name] = builder(name, prop, default, attrs, options)
        if kind in ("file", "files"):
            url_attrs = {"placeholder": "https://…", "aria-label": f"{label} URL"}
            if help_text:
                url_attrs["aria-describedby"] = f"id_{name}_help"
            if kind == "file":
                url = forms.CharField(
                    required=False, widget=forms.URLInput(attrs=url_attrs), label=f"{label} URL"
                )
                url.initial = default if isinstance(default, str) else None
            else:
                url_attrs["rows"] = 2
                url_attrs["placeholder"] = "One URL per line"
                url = forms.CharField(
                    required=False, widget=forms.Textarea(attrs=url_attrs), label=f"{label} URLs"
                )
                url.initial = "\n".join(default) if isinstance(default, list) else None
            self.fields[name + URL_SUFFIX] = url

    def _field_string(self, name, prop, default, attrs, options):
        max_length = prop.get("maxLength")
        long_text = (max_length or 0) > LONG_TEXT_LENGTH or (
            max_length is None and any(word in name.lower() for word in LONG_TEXT_NAMES)
        )
        if max_length is not None:
            attrs["maxlength"] = max_length
        if prop.get("minLength") is not None:
            attrs["minlength"] = prop["minLength"]
        if prop.get("pattern"):
            attrs["pattern"] = prop["pattern"]
        widget = forms.Textarea(attrs={"rows": 4, **attrs}) if long_text else forms.TextInput(attrs)
        return forms.CharField(widget=widget, strip=False, initial=default, **options)

    def _field_secret(self, name, prop, default, attrs, options):
        attrs["autocomplete"] = "off"
        return forms.CharField(
            widget=forms.PasswordInput(attrs, render_value=False), strip=False, **options
        )

    def _field_integer(self, name, prop, default, attrs, options):
        return self._number(name, prop, default, attrs, options, integer=True)

    def _field_number(self, name, prop, default, attrs, options):
        return self._number(name, prop, default, attrs, options, integer=False)

    def _number(self, name, prop, default, attrs, options, *, integer: bool):
        step = "1" if integer else "any"
        attrs["step"] = step
        bounds = []
        for key, attr in (("minimum", "min"), ("maximum", "max")):
            if prop.get(key) is not None:
                attrs[attr] = _number_text(int(prop[key]) if integer else prop[key])
                bounds.append(attrs[attr])
        if len(bounds) == 2:
            self._range[name] = (bounds[0], bounds[1], step)
        field_class = forms.IntegerField if integer else forms.FloatField
        widget = forms.NumberInput(attrs)
        return field_class(widget=widget, initial=default, localize=False, **options)

    def _field_boolean(self, name, prop, default, attrs, options):
        if default is None and prop.get("nullable"):
            return forms.NullBooleanField(widget=forms.NullBooleanSelect(attrs), **options)
        return forms.BooleanField(
            widget=forms.CheckboxInput(attrs), initial=bool(default), **options
        )

    def _field_choice(self, name, prop, default, attrs, options):
        values = list(prop.get("enum") or [])
        choices = [(json.dumps(v), str(v)) for v in values]
        if default is None:
            choices.insert(0, ("", "—"))
        return forms.TypedChoiceField(
            choices=choices,
            coerce=json.loads,
            empty_value=None,
            widget=forms.Select(attrs),
            initial=json.dumps(default) if default is not None else "",
            **options,
        )

    def _field_file(self, name, prop, default, attrs, options):
        if prop.get("x-cog-accept"):
            attrs["accept"] = prop["x-cog-accept"]
        return forms.FileField(widget=forms.ClearableFileInput(attrs), **options)

    def _field_files(self, name, prop, default, attrs, options):
        if prop.get("x-cog-accept"):
            attrs["accept"] = prop["x-cog-accept"]
        return MultipleFileField(widget=MultipleFileInput(attrs), **options)

    def _field_list(self, name, prop, default, attrs, options):
        attrs.setdefault("rows", 3)
        attrs["placeholder"] = "One per line"
        initial = "\n".join(_number_text(v) for v in default) if isinstance(default, list) else None
        return forms.CharField(
            widget=forms.Textarea(attrs), strip=False, initial=initial, **options
        )

    def _field_json(self, name, prop, default, attrs, options):
        attrs.setdefault("rows", 2)
        initial = default if isinstance(default, str) or default is None else json.dumps(default)
        return forms.CharField(
            widget=forms.Textarea(attrs), strip=False, initial=initial, **options
        )

    # Laying them out

    def input_groups(self) -> list[InputGroup]:
        groups = []
        for name, spec in self.specs.items():
            url_field = self[name + URL_SUFFIX] if spec.kind in ("file", "files") else None
            minimum, maximum, step = self._range.get(name, ("", "", ""))
            groups.append(
                InputGroup(
                    name,
                    spec.kind,
                    self[name],
                    url_field,
                    required=spec.required and not spec.nullable,
                    type_label=_type_label(spec),
                    minimum=minimum,
                    maximum=maximum,
                    step=step,
                )
            )
        return groups

    # Cleaning

    def clean(self) -> dict:
        cleaned = super().clean()
        pending: dict[str, UploadedFile] = {}
        value: dict[str, Any] = {}
        for name, spec in self.specs.items():
            if name in self.errors:
                continue
            try:
                converted = self._convert(spec, cleaned, pending)
            except forms.ValidationError as error:
                self.add_error(name, error)
                continue
            if _is_empty(converted):
                if spec.required and spec.nullable:
                    value[name] = None
                continue
            value[name] = converted
        try:
            value = validate_input(self.schema, value)
        except ApiError as error:
            self._add_input_errors(error.extra.get("invalid_fields", []))
        if self.errors:
            return cleaned
        cleaned["input"] = self._store_uploads(value, pending)
        return cleaned

    def _convert(self, spec: Input, cleaned: dict, pending: dict) -> Any:
        name, kind = spec.name, spec.kind
        raw = cleaned.get(name)
        if kind in ("string", "json", "list") and isinstance(raw, str):
            raw = raw.replace("\r\n", "\n")  # browsers send textarea line breaks as CRLF
        if kind == "file":
            return self._file_value(name, raw, cleaned.get(name + URL_SUFFIX) or "", pending)
        if kind == "files":
            uploads = [self._placeholder(name, f, pending) for f in raw or []]
            lines = (cleaned.get(name + URL_SUFFIX) or "").split()
            return uploads + [_checked_url(line) for line in lines]
        if kind == "list":
            return _list_value(raw or "", spec.items.get("type"))
        if kind == "json":
            return _json_value(raw or "", spec.type)
        if kind in ("string", "secret") and raw == "":
            return None
        return raw

    def _file_value(self, name: str, upload, url: str, pending: dict) -> str | None:
        if upload:
            return self._placeholder(name, upload, pending)
        url = url.strip()
        return _checked_url(url) if url else None

    def _placeholder(self, name: str, upload: UploadedFile, pending: dict) -> str:
        limit = settings.MAX_INPUT_FILE_BYTES
        if upload.size > limit:
            raise forms.ValidationError(
                f"{upload.name} is larger than {limit // (1024 * 1024)} MB.", code="too_large"
            )
        placeholder = f"https://upload.invalid/{len(pending)}/{upload.name}"
        pending[placeholder] = upload
        return placeholder

    def _add_input_errors(self, invalid_fields: list[dict]) -> None:
        for problem in invalid_fields:
            field = problem.get("field") or "input"
            description = problem.get("description", "")
            if problem.get("type") == "required":
                name = description.split(" is required", 1)[0]
            else:
                name = field.removeprefix("input.").split(".", 1)[0] if "." in field else ""
            if name in self.specs:
                if name not in self.errors:
                    self.add_error(name, description)
            else:
                self.add_error(None, description)

    def _store_uploads(self, value: dict, pending: dict) -> dict:
        """Save each upload under uploads/<random>/<name>; our URL replaces its placeholder."""
        urls = {}
        for placeholder, upload in pending.items():
            name = default_storage.generate_filename(
                f"uploads/{secrets.token_hex(16)}/{upload.name}"
            )
            stored = default_storage.save(name, upload)
            urls[placeholder] = stored_file_url(stored)

        def swap(v):
            if isinstance(v, list):
                return [urls.get(x, x) if isinstance(x, str) else x for x in v]
            return urls.get(v, v) if isinstance(v, str) else v

        return {k: swap(v) for k, v in value.items()}

    @staticmethod
    def initial_from_input(schema: dict, given: dict) -> dict:
        """Field values that show `given` (a stored input) in the form; secrets stay empty."""
        initial: dict[str, Any] = {}
        for spec in inputs(schema):
            name = spec.name
            if name not in (given or {}) or given[name] is None:
                continue
            value, kind = given[name], spec.kind
            if kind == "secret":
                continue
            if kind == "file":
                initial[name + URL_SUFFIX] = value
            elif kind == "files":
                initial[name + URL_SUFFIX] = "\n".join(str(v) for v in value or [])
            elif kind == "list":
                initial[name] = "\n".join(_number_text(v) for v in value or [])
            elif kind == "json":
                initial[name] = value if isinstance(value, str) else json.dumps(value)
            elif kind == "choice":
                initial[name] = json.dumps(value)
            else:
                initial[name] = value
        return initial


def playground_initial(prediction: Prediction) -> dict:
    """The playground's `initial` for "Tweak it": this prediction's inputs (secrets, stored
    masked, are left for the user to type again)."""
    return PlaygroundForm.initial_from_input(prediction.version.openapi_schema, prediction.input)


def _type_label(spec: Input) -> str:
    kind = spec.kind
    if kind in ("integer", "number"):
        low, high = spec.minimum, spec.maximum
        if low is not None and high is not None:
            return f"{kind}, {_number_text(low)} to {_number_text(high)}"
        if low is not None:
            return f"{kind}, at least {_number_text(low)}"
        if high is not None:
            return f"{kind}, at most {_number_text(high)}"
        return kind
    if kind == "list":
        return f"list of {spec.items.get('type', 'value')}s"
    if kind == "json":
        return {"object": "JSON object", "array": "JSON list"}.get(spec.type, "JSON or text")
    return kind


def _is_empty(value: Any) -> bool:
    return value is None or value == "" or value == []


def _checked_url(url: str) -> str:
    if not url.lower().startswith(URL_SCHEMES):
        raise forms.ValidationError("Enter an http(s) URL or a data: URI.", code="invalid_url")
    return url


def _list_value(text: str, item_type: str | None) -> list:
    lines = [line.strip() for line in text.split("\n") if line.strip()]
    if item_type == "string":
        return lines
    convert = int if item_type == "integer" else float
    try:
        values = [convert(line) for line in lines]
        if not all(math.isfinite(value) for value in values):
            raise ValueError("NaN or infinite")
        return values
    except ValueError:
        what = "whole numbers" if item_type == "integer" else "numbers"
        raise forms.ValidationError(f"Enter {what}, one per line.", code="invalid") from None


def _json_value(text: str, declared_type: str | None) -> Any:
    """JSON when it parses; plain text otherwise (unions often accept a string)."""
    if not text.strip():
        return None
    try:
        return jsonbody.loads(text)
    except jsonbody.InvalidJson as error:
        if not error.malformed:  # JSON, but nothing can store it: NaN, \ud800, deep nesting
            raise forms.ValidationError(f"Enter valid JSON: {error}.", code="invalid") from None
        if declared_type in ("object", "array"):
            raise forms.ValidationError("Enter valid JSON.", code="invalid") from None
        return text
