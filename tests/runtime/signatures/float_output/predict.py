from cog import BasePredictor


class Predictor(BasePredictor):
    def predict(self, x: float) -> float:
        return x * 2
