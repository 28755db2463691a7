from cog import BasePredictor


class Predictor(BasePredictor):
    def predict(
        self,
        text: str = "hello",
        empty: str = "",
        count: int = 3,
        negative: int = -7,
        ratio: float = 0.5,
        whole_float: float = 2.0,
        enabled: bool = True,
        disabled: bool = False,
    ) -> int:
        return count
