"""Terrain heightmap generation with Adaptive Terrain Diffusion (one-step ONNX model).

The consistency-distilled UNet is bundled in the ``adaptive-terrain-diffusion`` wheel.
It makes 128x128 tiles; 256x256 maps are denoised as overlapping tiles of one shared
noise canvas. The output is a grayscale PNG: black = lowest point, white = highest.
"""

import os
import tempfile
import time
from typing import Optional

from cog import BasePredictor, Input, Path


def _pick_device() -> str:
    """'cpu' unless an NVIDIA device is visible (override with TERRAIN_DEVICE)."""
    forced = os.environ.get("TERRAIN_DEVICE")
    if forced:
        return forced
    # With onnxruntime-gpu, "auto" tries CUDA first and falls back to CPU, but that
    # logs loud errors on machines without CUDA, so only try it when a GPU exists.
    return "auto" if os.path.exists("/dev/nvidiactl") else "cpu"


class Predictor(BasePredictor):
    def setup(self) -> None:
        """Create the ONNX Runtime session once."""
        t0 = time.perf_counter()
        from terrain_diffusion import TerrainGenerator

        self.generator = TerrainGenerator(device=_pick_device())
        print(
            f"loaded terrain UNet ({self.generator.model_path}) on {self.generator.device} "
            f"{list(self.generator.providers)} in {time.perf_counter() - t0:.2f}s"
        )

    def predict(
        self,
        seed: Optional[int] = Input(
            description=(
                "Random seed. Leave blank to randomize; "
                "the seed also picks the terrain difficulty (1-100)."
            ),
            default=None,
        ),
        size: int = Input(
            description="Width and height of the heightmap in pixels.",
            default=256,
            choices=[128, 256],
        ),
    ) -> Path:
        """Generate one terrain heightmap and return it as a grayscale PNG."""
        import numpy as np
        from PIL import Image

        if seed is None:
            seed = int.from_bytes(os.urandom(2), "big")
        print(f"Using seed: {seed}")

        t0 = time.perf_counter()
        terrains, difficulties = self.generator.generate(
            1, shape=(size, size), difficulty="random", seed=seed, return_difficulties=True
        )
        height = terrains[0]
        elapsed = time.perf_counter() - t0
        print(
            f"generated {size}x{size} terrain (difficulty {int(difficulties[0])}, "
            f"height range {float(height.max() - height.min()):.2f}) in {elapsed:.2f}s"
        )

        lo, hi = float(height.min()), float(height.max())
        scaled = (height - lo) / (hi - lo) if hi > lo else np.zeros_like(height)
        pixels = np.round(scaled * 255.0).astype(np.uint8)

        out_path = Path(tempfile.mkdtemp()) / "terrain.png"
        Image.fromarray(pixels).save(out_path, optimize=True)
        return out_path
