"""Outputs that are lists or iterators of BaseModels: Cog's build-time generator accepts them,
its Python inspector does not; ours describes them as the generator does."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parents[2] / "apps" / "runtime" / "cog_schema.py"

SOURCE = """
from typing import Iterator
from cog import BaseModel, BasePredictor

class Label(BaseModel):
    label: str
    score: float

class Predictor(BasePredictor):
    def predict(self, n: int = 1) -> {annotation}:
        return []
"""


@pytest.mark.parametrize(
    ("annotation", "iterator"), [("list[Label]", False), ("Iterator[Label]", True)]
)
def test_collections_of_models_are_arrays_of_objects(tmp_path, annotation, iterator):
    (tmp_path / "predict.py").write_text(SOURCE.replace("{annotation}", annotation))
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "predict.py:Predictor"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    output = json.loads(result.stdout)["components"]["schemas"]["Output"]
    assert output["type"] == "array"
    assert output["title"] == "Output"
    assert output["items"] == {
        "type": "object",
        "properties": {
            "label": {"title": "Label", "type": "string"},
            "score": {"title": "Score", "type": "number"},
        },
        "required": ["label", "score"],
    }
    assert ("x-cog-array-type" in output) is iterator
