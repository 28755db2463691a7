from typing import List

from cog import BasePredictor, Input


class Predictor(BasePredictor):
    def predict(
        self,
        prompts: List[str] = Input(description="Several prompts"),
        tags: List[str] = Input(default=["a", "b"]),
        sizes: list[int] = Input(default=[1, 2, 3]),
        weights: List[float] = Input(description="Weights"),
    ) -> List[str]:
        return prompts
