from cog import BaseRunner, Input, Path


class Runner(BaseRunner):
    def setup(self, weights: Path | None = None) -> None:
        self.weights = weights

    def run(
        self,
        prompt: str = Input(description="Prompt"),
        steps: int = Input(default=4, ge=1, le=50),
        style: str = Input(default="photo", choices=["photo", "anime"]),
        image: Path | None = Input(default=None, accept="image/*"),
    ) -> str:
        return prompt
