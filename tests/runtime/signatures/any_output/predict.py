from typing import Any

from cog import BasePredictor


class Predictor(BasePredictor):
    def predict(self, prompt: str) -> Any:
        return prompt
