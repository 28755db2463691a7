from typing import List, Optional

from cog import BaseModel, BasePredictor, Path


class Output(BaseModel):
    text: str
    score: float
    count: int
    ok: bool
    image: Path
    labels: List[str]
    caption: Optional[str]


class Predictor(BasePredictor):
    def predict(self, prompt: str) -> Output:
        raise NotImplementedError
