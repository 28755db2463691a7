from cog import BasePredictor, Input


class Predictor(BasePredictor):
    def predict(
        self,
        prompt: str = Input(description="The prompt"),
        old_mode: str = Input(default="fast", deprecated=True),
        legacy_steps: int = Input(default=4, ge=1, deprecated=True, description="Use steps"),
    ) -> str:
        return prompt
