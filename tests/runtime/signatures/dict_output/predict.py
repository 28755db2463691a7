from cog import BasePredictor


class Predictor(BasePredictor):
    def predict(self, key: str = "k") -> dict:
        return {key: 1}
