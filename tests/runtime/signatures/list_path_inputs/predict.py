from typing import List

from cog import BasePredictor, Input, Path


class Predictor(BasePredictor):
    def predict(
        self,
        images: List[Path] = Input(description="Images to process"),
        extra: list[Path] = Input(description="More files"),
    ) -> List[Path]:
        return images
