import os
import time
import urllib.parse
import warnings

from cog import BasePredictor, Input, Path

# The checkpoint the untrained version samples from (built by make_base.py).
BASE_CHECKPOINT = Path(__file__).resolve().parent / "base.pt"


def local_checkpoint(weights: str | os.PathLike) -> Path:
    """The checkpoint file behind ``weights``: a path, a file:// URL, or a directory.

    Cog passes trained weights to setup() as a string (COG_WEIGHTS: here the path of the file
    that train() returned, in the version's folder) or a Path. In a directory the checkpoint
    is its first ``*.pt`` file, or else its only file. Nothing is downloaded.
    """
    text = str(weights)
    if text.startswith("file://"):
        text = urllib.parse.unquote(urllib.parse.urlsplit(text).path)
    path = Path(text)
    if path.is_dir():
        files = sorted(child for child in path.iterdir() if child.is_file())
        checkpoints = [child for child in files if child.suffix == ".pt"]
        if checkpoints:
            path = checkpoints[0]
        elif len(files) == 1:
            path = files[0]
        else:
            raise ValueError(f"no checkpoint in the weights directory {path}")
    if not path.is_file():
        raise ValueError(f"weights not found: {weights} (a checkpoint file's path is expected)")
    return path


class Predictor(BasePredictor):
    def setup(self, weights: Path | str | None = None) -> None:
        # torch is imported here, not at module level, so the schema can be read from this
        # file without importing it. (This torch is built without numpy; its warning is noise.)
        started = time.perf_counter()
        warnings.filterwarnings("ignore", message="Failed to initialize NumPy")
        from model import CharLM

        checkpoint = local_checkpoint(weights) if weights else BASE_CHECKPOINT
        self.lm = CharLM.load(checkpoint)
        print(
            f"loaded char-lm from {checkpoint} ({len(self.lm.vocabulary)} characters, "
            f"hidden size {self.lm.hidden_size}) in {time.perf_counter() - started:.2f}s"
        )

    def predict(
        self,
        prompt: str = Input(
            description="Text to continue. Characters the model has never seen are skipped.",
            default="The ",
        ),
        length: int = Input(
            description="Number of characters to generate.", default=200, ge=1, le=2000
        ),
        temperature: float = Input(
            description="Sampling temperature: lower is more conservative and repetitive, "
            "higher is more adventurous.",
            default=0.8,
            ge=0.05,
            le=2.0,
        ),
        seed: int = Input(
            description="Random seed, for reproducible output; -1 for random.",
            default=-1,
            ge=-1,
            le=2_147_483_647,
        ),
    ) -> str:
        started = time.perf_counter()
        if seed < 0:
            seed = int.from_bytes(os.urandom(4), "big") >> 1
        text = self.lm.generate(prompt, length, temperature=temperature, seed=seed)
        print(
            f"generated {length} characters (seed {seed}) "
            f"in {(time.perf_counter() - started) * 1000:.0f} ms"
        )
        return text
