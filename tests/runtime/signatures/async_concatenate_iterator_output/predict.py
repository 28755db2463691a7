from cog import AsyncConcatenateIterator, BasePredictor, Input


class Predictor(BasePredictor):
    async def setup(self) -> None:
        self.prefix = ""

    async def predict(
        self, prompt: str = Input(description="Prompt", min_length=1)
    ) -> AsyncConcatenateIterator[str]:
        yield prompt
