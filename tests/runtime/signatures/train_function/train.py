from cog import BaseModel, Input, Path


class TrainingOutput(BaseModel):
    weights: Path


def train(
    dataset: Path = Input(description="Training data"),
    epochs: int = Input(default=3, ge=1),
) -> TrainingOutput:
    return TrainingOutput(weights=dataset)
