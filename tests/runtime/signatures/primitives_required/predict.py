from cog import BasePredictor


class Predictor(BasePredictor):
    def predict(self, text: str, count: int, ratio: float, enabled: bool) -> str:
        return f"{text} {count} {ratio} {enabled}"
