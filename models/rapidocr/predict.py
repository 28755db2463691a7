"""Text detection + recognition with RapidOCR (PaddleOCR PP-OCRv6 models on ONNX Runtime).

The det/cls/rec ONNX files are bundled in the ``rapidocr`` wheel; RapidOCR only checks
that they exist, so setup() never touches the network.
"""

import time
from typing import TypedDict

from cog import BaseModel, BasePredictor, Input, Path


class Line(TypedDict):
    text: str
    score: float
    box: list[list[float]]


class Output(BaseModel):
    text: str
    lines: list[Line]


class Predictor(BasePredictor):
    def setup(self) -> None:
        """Load the detection, angle-classification and recognition models once."""
        t0 = time.perf_counter()
        from rapidocr import RapidOCR

        self.engine = RapidOCR(
            params={
                # RapidOCR's default ("min" side >= 736) upscales small images up to 8x,
                # which splits short lines into word fragments and is slow. Detect at
                # roughly native resolution instead (RapidOCR still caps the long side at
                # 2000 px), as PaddleOCR itself does.
                "Det.limit_type": "min",
                "Det.limit_side_len": 64,
            }
        )
        print(f"loaded RapidOCR (PP-OCRv6 small, onnxruntime) in {time.perf_counter() - t0:.2f}s")

    def predict(
        self,
        image: Path = Input(
            description="Image containing text (Chinese and English). PNG, JPEG, WebP, BMP...",
            accept="image/*",
        ),
    ) -> Output:
        """Find text lines and read them, top to bottom."""
        from PIL import Image, ImageOps

        t0 = time.perf_counter()
        try:
            with Image.open(str(image)) as im:
                im.load()
                img = ImageOps.exif_transpose(im)  # respect camera orientation
            # RapidOCR handles RGB, RGBA (puts transparent text on a contrasting
            # background), L, LA and 1; convert anything else (palette, CMYK, 16-bit...).
            if img.mode not in ("RGB", "RGBA", "L", "LA", "1"):
                has_alpha = img.mode == "PA" or "transparency" in img.info
                img = img.convert("RGBA" if has_alpha else "RGB")
        except Exception as exc:
            raise ValueError(f"could not read image: {exc}") from exc
        print(f"image {img.width}x{img.height}")

        result = self.engine(img)
        lines: list[Line] = []
        if result.txts:
            for box, txt, score in zip(result.boxes.tolist(), result.txts, result.scores):
                lines.append(
                    Line(
                        text=txt,
                        score=round(float(score), 4),
                        box=[[round(float(x), 1), round(float(y), 1)] for x, y in box],
                    )
                )
        text = "\n".join(line["text"] for line in lines)
        print(f"read {len(lines)} lines in {time.perf_counter() - t0:.2f}s")
        for line in lines:
            print(f"  {line['score']:.3f}  {line['text']}")
        return Output(text=text, lines=lines)
