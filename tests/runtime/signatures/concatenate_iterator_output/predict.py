from cog import BasePredictor, ConcatenateIterator, Input


class Predictor(BasePredictor):
    def predict(
        self,
        prompt: str = Input(description="Prompt"),
        max_new_tokens: int = Input(default=128, ge=1, le=4096),
        temperature: float = Input(default=0.7, ge=0.0, le=2.0),
    ) -> ConcatenateIterator[str]:
        yield prompt
