from cog import BasePredictor, Input


class Predictor(BasePredictor):
    def predict(
        self,
        width: int = Input(default=512, choices=[256, 512, 768, 1024]),
        num_outputs: int = Input(choices=[1, 2, 4]),
    ) -> int:
        return width
