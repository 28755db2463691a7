"""Push the bundled demo models (models/*) under `demo`, file them into collections, and
queue an example prediction for each. Safe to run again: unchanged models are skipped."""

from __future__ import annotations

import json
from pathlib import Path

from django.conf import settings
from django.core.files.storage import default_storage
from django.core.management.base import BaseCommand, CommandError

from apps.accounts import services as accounts
from apps.accounts.models import Organization, User
from apps.billing.models import Hardware
from apps.catalog.models import Collection, Model
from apps.catalog.services import PushError, model_create, version_push
from apps.core.links import stored_file_url
from apps.predictions.models import Prediction
from apps.predictions.services import prediction_create

COLLECTIONS = {
    "language-models": ("Language models", "Models that write text, token by token."),
    "embeddings": ("Embeddings", "Turn text into vectors for search and clustering."),
    "image-classification": ("Image classification", "Say what is in a picture."),
    "speech-to-text": ("Speech to text", "Transcribe spoken audio."),
    "ocr": ("OCR", "Read the text in images."),
    "image-generation": ("Image generation", "Make pictures from noise, prompts or seeds."),
    "trainable": ("Trainable models", "Bring your own data: train them into a model of yours."),
}

DEMO_MODELS = {
    "hello-world": ("The smallest possible model: it says hello.", [], True),
    "smollm2-135m-instruct": (
        "SmolLM2-135M-Instruct: a small chat model that streams its answer token by token.",
        ["language-models"],
        True,
    ),
    "all-minilm-l6-v2": (
        "all-MiniLM-L6-v2 sentence embeddings: 384 numbers per text.",
        ["embeddings"],
        False,
    ),
    "efficientnet-lite0": (
        "EfficientNet-Lite0: label a photo with one of 1,000 ImageNet classes.",
        ["image-classification"],
        True,
    ),
    "whisper-tiny-en": (
        "Whisper tiny.en: English speech recognition with timestamps.",
        ["speech-to-text"],
        False,
    ),
    "rapidocr": ("RapidOCR: find and read the lines of text in an image.", ["ocr"], False),
    "terrain-diffusion": (
        "Terrain diffusion: generate a terrain heightmap from a seed.",
        ["image-generation"],
        False,
    ),
    "char-lm": (
        "A small character-level language model you can train on your own text in a minute.",
        ["language-models", "trainable"],
        True,
    ),
}


class Command(BaseCommand):
    help = "Push the demo models in models/ under the demo organization."

    def add_arguments(self, parser):
        parser.add_argument("names", nargs="*", help="only these demo models (default: all)")
        parser.add_argument("--no-examples", action="store_true")

    def handle(self, *args, names, no_examples, **options):
        self.verbosity = options["verbosity"]
        demo = self._demo_account()
        unknown = set(names) - set(DEMO_MODELS)
        if unknown:
            raise CommandError(f"unknown demo models: {', '.join(sorted(unknown))}")
        for position, (slug, (name, description)) in enumerate(COLLECTIONS.items()):
            Collection.objects.update_or_create(
                slug=slug, defaults={"name": name, "description": description, "position": position}
            )
        failures = 0
        for name in names or DEMO_MODELS:
            directory = settings.BASE_DIR / "models" / name
            try:
                model, created = self._push(demo, name, directory)
            except PushError as error:
                failures += 1
                self.stderr.write(f"demo/{name}: {error}\n{error.details}")
                continue
            self.stdout.write(f"demo/{name}: {'pushed' if created else 'up to date'}")
            if not no_examples:
                self._example(model, directory)
        if failures:
            raise CommandError(f"{failures} demo model(s) could not be pushed")

    def _demo_account(self):
        organization = Organization.objects.filter(name="demo").first()
        if organization is None:
            owner = User.objects.filter(is_superuser=True).order_by("pk").first()
            if owner is None:
                raise CommandError("create a superuser first (manage.py up does)")
            organization = accounts.organization_create(
                name="demo", display_name="Demo models", owner=owner
            )
        return organization.account

    def _push(self, demo, name: str, directory: Path):
        description, collections, featured = DEMO_MODELS[name]
        model = Model.objects.filter(owner=demo, name=name).first()
        readme = (directory / "README.md").read_text() if (directory / "README.md").exists() else ""
        if model is None:
            model = model_create(
                owner=demo,
                name=name,
                description=description,
                readme=readme,
                default_hardware=Hardware.objects.get(sku="cpu"),
            )
        model.description, model.readme, model.featured = description, readme, featured
        model.save()
        for slug in collections:
            Collection.objects.get(slug=slug).models.add(model)
        _version, created = version_push(
            model=model,
            source_dir=directory,
            log=(lambda line: self.stdout.write(f"  {line}")) if self.verbosity > 1 else None,
        )
        return model, created

    def _example(self, model: Model, directory: Path) -> None:
        version = model.latest_version
        example_file = directory / "example.json"
        if version is None or not example_file.exists():
            return
        if Prediction.objects.filter(version=version, is_example=True).exists():
            return
        example = json.loads(example_file.read_text())
        if set(example) == {"input"} and isinstance(example["input"], dict):
            example = example["input"]
        inputs = {key: self._file_input(model, directory, value) for key, value in example.items()}
        prediction_create(
            version=version,
            owner=model.owner,
            input=inputs,
            source=Prediction.Source.WEB,
            is_example=True,
        )
        self.stdout.write(f"demo/{model.name}: example prediction queued")

    def _file_input(self, model: Model, directory: Path, value):
        """Example inputs that name a file in the model directory become URLs of a copy."""
        if not isinstance(value, str) or "/" in value or not (directory / value).is_file():
            return value
        name = f"examples/{model.name}/{value}"
        if not default_storage.exists(name):
            with open(directory / value, "rb") as handle:
                name = default_storage.save(name, handle)
        return stored_file_url(name)
