from typing import List, Optional

from cog import BasePredictor, Input


class Predictor(BasePredictor):
    def predict(
        self,
        prompt: Optional[str] = None,
        negative_prompt: Optional[str] = Input(description="What to avoid", default=None),
        seed: Optional[int] = Input(description="Random seed; leave blank to randomize"),
        scale: Optional[float] = Input(default=7.5, ge=1, le=20),
        words: Optional[List[str]] = None,
        flag: Optional[bool] = None,
    ) -> float:
        return 0.0
