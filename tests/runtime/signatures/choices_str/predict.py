from cog import BasePredictor, Input


class Predictor(BasePredictor):
    def predict(
        self,
        scheduler: str = Input(
            default="K_EULER", choices=["DDIM", "K_EULER", "DPMSolverMultistep"]
        ),
        size: str = Input(choices=["small", "large"]),
    ) -> str:
        return scheduler
