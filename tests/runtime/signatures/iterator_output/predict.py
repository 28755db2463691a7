from typing import Iterator

from cog import BasePredictor, Input


class Predictor(BasePredictor):
    def predict(self, count: int = Input(default=3, ge=1)) -> Iterator[str]:
        for i in range(count):
            yield str(i)
