from typing import Optional

from cog import BasePredictor, Input, Path


class Predictor(BasePredictor):
    def predict(
        self,
        image: Path = Input(description="Input image"),
        mask: Optional[Path] = Input(description="Inpainting mask", default=None),
        style: Path = Input(default="https://example.com/style.png"),
    ) -> str:
        return str(image)
