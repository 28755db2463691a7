from typing import AsyncIterator

from cog import BasePredictor
from cog import concurrent as parallel
from cog import streaming as stream


class Predictor(BasePredictor):
    @stream()
    @parallel(max=4)
    async def predict(self, prompt: str) -> AsyncIterator[str]:
        yield prompt
