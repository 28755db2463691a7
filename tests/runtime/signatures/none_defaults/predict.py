from cog import BasePredictor, File, Input, Path, Secret


class Predictor(BasePredictor):
    def predict(
        self,
        prompt: str,
        seed: int = Input(description="Random seed", default=None),
        image: Path = None,
        document: File = None,
        api_key: Secret = Input(default=None),
    ) -> str:
        return prompt
