from typing import List, Union

from cog import BasePredictor, Input


class Predictor(BasePredictor):
    def predict(
        self,
        size: Union[str, int] = "auto",
        stop: Union[int, List[str]] = Input(description="A token count or stop words"),
        scale: Union[bool, float] = Input(default=1.5),
    ) -> str:
        return str(size)
