from typing import List, Optional

from cog import BasePredictor, Input, Path

SCHEDULERS = ["DDIM", "DPMSolverMultistep", "K_EULER", "K_EULER_ANCESTRAL", "PNDM"]


class Predictor(BasePredictor):
    def setup(self) -> None:
        self.ready = True

    def predict(
        self,
        prompt: str = Input(description="Input prompt", default="An astronaut riding a horse"),
        negative_prompt: str = Input(description="Things to avoid", default=""),
        image: Optional[Path] = Input(description="Input image for img2img", default=None),
        width: int = Input(description="Width", default=1024, choices=[512, 768, 1024]),
        height: int = Input(description="Height", default=1024),
        num_outputs: int = Input(description="Number of images", ge=1, le=4, default=1),
        scheduler: str = Input(default="K_EULER", choices=SCHEDULERS),
        num_inference_steps: int = Input(ge=1, le=500, default=50),
        guidance_scale: float = Input(ge=1, le=50, default=7.5),
        seed: Optional[int] = Input(description="Random seed. Leave blank to randomize"),
        apply_watermark: bool = Input(default=True, description="Apply a watermark"),
    ) -> List[Path]:
        return []
