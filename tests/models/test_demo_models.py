"""Every bundled demo model, pushed for real and run in Cog's runtime on inputs made here."""

from __future__ import annotations

import base64
import io
import math
import shutil
import struct
import subprocess
import uuid
import zlib
from pathlib import Path

import pytest
from django.conf import settings

from apps.catalog.models import Model
from apps.catalog.services import version_push
from apps.predictions.pool import version_spec
from apps.runtime.pool import ModelPool, PoolSettings

MODELS = settings.BASE_DIR / "models"


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    pool = ModelPool(
        PoolSettings(
            work_dir=tmp_path_factory.mktemp("demo-pool"),
            memory_budget_bytes=6 << 30,
            max_processes=3,
            setup_timeout=600,
            max_input_bytes=50 << 20,
            max_output_bytes=50 << 20,
            fetch_timeout=10,
        )
    )
    yield pool
    pool.shutdown()


@pytest.fixture
def demo(db, cast):
    def push(name: str):
        model = Model.objects.create(owner=cast.acme.account, name=name)
        version, _ = version_push(model=model, source_dir=MODELS / name)
        return version_spec(version)

    return push


def predict(pool, spec, inputs, *, limit=300):
    events = []
    outcome = pool.run(
        spec,
        f"test-{spec.digest[:8]}-{len(events)}",
        inputs,
        on_event=lambda kind, data: events.append((kind, data)),
        time_limit=limit,
    )
    assert outcome.result.status == "succeeded", (outcome.result.error, outcome.result.logs)
    return outcome, events


def data_uri(content: bytes, content_type: str) -> str:
    return f"data:{content_type};base64,{base64.b64encode(content).decode()}"


def test_hello_world_greets(pool, demo):
    outcome, _ = predict(pool, demo("hello-world"), {"text": "platform"})
    assert outcome.result.output == "hello platform"


def test_a_warm_prediction_skips_setup(pool, demo):
    spec = demo("hello-world")
    first, _ = predict(pool, spec, {"text": "one"})
    second, events = predict(pool, spec, {"text": "two"})
    assert second.setup is None
    assert not any("cold boot" in str(data) for _, data in events)
    assert second.result.output == "hello two"


def _cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def test_embeddings_of_paraphrases_are_closer_than_of_unrelated_sentences(pool, demo):
    spec = demo("all-minilm-l6-v2")
    vectors = [
        predict(pool, spec, {"text": text})[0].result.output
        for text in (
            "A man is eating a meal.",
            "Someone is having lunch.",
            "The stock market fell today.",
        )
    ]
    assert all(len(v) == 384 for v in vectors)
    assert all(math.isclose(math.sqrt(sum(x * x for x in v)), 1.0, rel_tol=1e-3) for v in vectors)
    assert _cosine(vectors[0], vectors[1]) > _cosine(vectors[0], vectors[2]) + 0.2


def test_the_language_model_streams_that_paris_is_the_capital(pool, demo):
    spec = demo("smollm2-135m-instruct")
    outcome, events = predict(
        pool,
        spec,
        {
            "prompt": "What is the capital of France?",
            "max_new_tokens": 32,
            "temperature": 0,
            "seed": 1,
        },
    )
    chunks = [data for kind, data in events if kind == "output"]
    assert len(chunks) > 1, "tokens should stream one by one"
    assert "".join(outcome.result.output) == "".join(chunks)
    assert "Paris" in "".join(chunks)


CATS = {"tiger cat", "Egyptian cat", "tabby", "Persian cat", "Siamese cat", "lynx"}


def test_the_classifier_labels_the_shipped_cat_photo_as_a_cat(pool, demo):
    spec = demo("efficientnet-lite0")
    photo = (MODELS / "efficientnet-lite0" / "example.jpg").read_bytes()
    outcome, _ = predict(pool, spec, {"image": data_uri(photo, "image/jpeg"), "top_k": 3})
    labels = outcome.result.output
    assert len(labels) == 3
    assert labels[0]["score"] >= labels[1]["score"] >= labels[2]["score"]
    assert {label["label"] for label in labels} <= CATS


def test_whisper_transcribes_espeak_speech(pool, demo, tmp_path):
    espeak = shutil.which("espeak-ng")
    assert espeak, "the speech test needs Debian's espeak-ng (apt-get install espeak-ng)"
    wav = tmp_path / "speech.wav"
    subprocess.run(
        [
            espeak,
            "-s",
            "140",
            "-w",
            str(wav),
            "Hello world. This is a test of the speech recognition model.",
        ],
        check=True,
    )
    outcome, _ = predict(
        pool, demo("whisper-tiny-en"), {"audio": data_uri(wav.read_bytes(), "audio/wav")}
    )
    text = outcome.result.output["text"].lower()
    for word in ("hello", "world", "test", "speech", "recognition"):
        assert word in text, text
    assert outcome.result.output["segments"][0]["start"] >= 0


def _text_png(lines: list[str]) -> bytes:
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("RGB", (900, 80 + 70 * len(lines)), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=44)
    for i, line in enumerate(lines):
        draw.text((40, 40 + 70 * i), line, fill="black", font=font)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_ocr_reads_rendered_text(pool, demo):
    expected = ["Invoice number 4711", "Total due 42.50 EUR"]
    png = _text_png(expected)
    outcome, _ = predict(pool, demo("rapidocr"), {"image": data_uri(png, "image/png")})
    text = outcome.result.output["text"]
    for line in expected:
        assert line.replace(" ", "") in text.replace(" ", "")
    assert all(0 < line["score"] <= 1 for line in outcome.result.output["lines"])


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    # Walk the chunks and check every CRC: a valid file, not just a valid header.
    offset = 8
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        chunk = data[offset + 4 : offset + 8 + length]
        (crc,) = struct.unpack(">I", data[offset + 8 + length : offset + 12 + length])
        assert zlib.crc32(chunk) == crc
        offset += 12 + length
    return width, height


@pytest.mark.parametrize("size", [128, 256])
def test_terrain_diffusion_makes_a_png_of_the_requested_size(pool, demo, size):
    outcome, _ = predict(pool, demo("terrain-diffusion"), {"seed": 7, "size": size})
    path = outcome.result.output
    assert isinstance(path, Path)
    assert _png_size(path.read_bytes()) == (size, size)


def test_a_file_that_is_not_an_image_fails_clearly_and_the_model_keeps_working(pool, demo):
    spec = demo("rapidocr")
    outcome = pool.run(spec, uuid.uuid4().hex, {"image": data_uri(b"not a picture", "image/png")},
                       on_event=lambda kind, data: None, time_limit=60)
    assert outcome.result.status == "failed"
    assert outcome.result.error
    ok, _ = predict(pool, spec, {"image": data_uri(_text_png(["Still working"]), "image/png")})
    assert "Stillworking" in ok.result.output["text"].replace(" ", "")


def test_char_lm_base_version_writes_before_any_training(pool, demo):
    spec = demo("char-lm")
    first, _ = predict(pool, spec, {"prompt": "The ", "length": 80, "seed": 5})
    again, _ = predict(pool, spec, {"prompt": "The ", "length": 80, "seed": 5})
    text = first.result.output
    assert len(text) == 80 and text == again.result.output  # a seed reproduces it
    assert sum(c.isalpha() or c in " .,\n" for c in text) > 60  # prose, not noise
