from cog import BasePredictor, Input


class Predictor(BasePredictor):
    def predict(
        self,
        prompt: str = Input(description="The prompt", min_length=1, max_length=2000),
        code: str = Input(default="abc", regex="^[a-z]+$"),
        slug: str = Input(default="a-b", min_length=3, regex=r"^[a-z]+(-[a-z]+)*$"),
        short: str = Input(max_length=8),
    ) -> str:
        return prompt
