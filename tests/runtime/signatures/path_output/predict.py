from cog import BasePredictor, Input, Path


class Predictor(BasePredictor):
    def predict(self, image: Path = Input(description="Image to upscale")) -> Path:
        return image
