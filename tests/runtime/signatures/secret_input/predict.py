from cog import BasePredictor, Input, Secret


class Predictor(BasePredictor):
    def predict(
        self,
        api_token: Secret = Input(description="Token for the upstream API"),
        password: Secret = Input(default="hunter2"),
    ) -> str:
        return "ok"
