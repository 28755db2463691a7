from cog import BasePredictor, BaseRunner


class Runner(BaseRunner):
    def run(self, text: str) -> str:
        return text


class Predictor(BasePredictor):
    def predict(self, number: int) -> int:
        return number
