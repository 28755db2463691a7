from cog import BasePredictor


class Predictor(BasePredictor):
    def predict(self, maxTokens: int = 16, v2beta: str = "x", top_p: float = 0.9) -> str:
        return "ok"
