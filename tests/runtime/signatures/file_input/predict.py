from cog import BasePredictor, File, Input


class Predictor(BasePredictor):
    def predict(
        self,
        document: File = Input(description="A document"),
        fallback: File = Input(default="https://example.com/doc.txt"),
    ) -> str:
        return document.read().decode()
