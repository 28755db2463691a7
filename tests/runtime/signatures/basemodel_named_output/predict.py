from typing import Optional

from cog import BaseModel, BasePredictor, Path


class Result(BaseModel):
    caption: str
    mask: Path
    n_tokens: int = 0
    confidence: Optional[float] = None


class Predictor(BasePredictor):
    def predict(self, image: Path) -> Result:
        raise NotImplementedError
