from typing import List, Optional

from cog import BaseRunner, File, Input, Path


class Runner(BaseRunner):
    def run(
        self,
        prompt: str = Input(description="Text prompt", default="test"),
        image: Path = Input(description="Input image", accept="image/*"),
        audio: Optional[Path] = Input(
            description="Audio clip", accept="audio/wav,audio/mp3", default=None
        ),
        weights: Optional[File] = Input(accept=".safetensors,.bin", default=None),
        frames: List[Path] = Input(accept="image/png"),
    ) -> str:
        return prompt
