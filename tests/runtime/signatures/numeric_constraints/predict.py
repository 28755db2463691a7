from cog import BasePredictor, Input


class Predictor(BasePredictor):
    def predict(
        self,
        steps: int = Input(description="Denoising steps", default=50, ge=1, le=500),
        guidance: float = Input(default=7.5, ge=0.0, le=50.0),
        strength: float = Input(description="Prompt strength", ge=0, le=1),
        lower_only: int = Input(default=10, ge=-5),
        upper_only: float = Input(default=0.25, le=0.5),
    ) -> bool:
        return True
