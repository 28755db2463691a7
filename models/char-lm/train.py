import tempfile
import time
import warnings

from cog import BaseModel, Input, Path

# The base checkpoint that training starts from (built by make_base.py).
BASE_CHECKPOINT = Path(__file__).resolve().parent / "base.pt"
MIN_CHARACTERS = 20
# Longer texts are cut here: a few minutes of training never sees more than this anyway.
MAX_CHARACTERS = 5_000_000


class TrainingOutput(BaseModel):
    weights: Path


def read_text(path: Path) -> str:
    """The training text; a ValueError says plainly why a file cannot be used."""
    data = Path(path).read_bytes()
    try:
        text = data.decode("utf-8-sig")  # a leading byte-order mark is dropped
    except UnicodeDecodeError as error:
        raise ValueError(
            f"the training file is not UTF-8 text (invalid byte at offset {error.start})"
        ) from None
    if "\x00" in text:
        raise ValueError("the training file is not text (it contains NUL bytes)")
    text = text.replace("\r\n", "\n")
    if len(text) < MIN_CHARACTERS:
        raise ValueError(
            f"the training text has {len(text)} characters; at least {MIN_CHARACTERS} are needed"
        )
    if len(text) > MAX_CHARACTERS:
        print(f"using the first {MAX_CHARACTERS:,} of {len(text):,} characters")
        text = text[:MAX_CHARACTERS]
    return text


def train(
    # (Cog reads each input's description and constraints from its Input() default.)
    text: Path = Input(  # noqa: B008
        description="A UTF-8 text file to learn from (at least 20 characters)."
    ),
    steps: int = Input(
        description="Training steps (batches of 64 windows of 100 characters).",
        default=300,
        ge=1,
        le=5000,
    ),
    learning_rate: float = Input(
        description="Adam learning rate (it decays to a tenth of this along a cosine curve).",
        default=0.003,
        ge=0.00001,
        le=0.1,
    ),
    seed: int = Input(
        description="Random seed for the batches and the new characters' weights.",
        default=0,
        ge=0,
        le=2_147_483_647,
    ),
) -> TrainingOutput:
    # torch is imported here, not at module level, so the schema can be read from this file
    # without importing it. (This torch is built without numpy; its warning is noise.)
    warnings.filterwarnings("ignore", message="Failed to initialize NumPy")
    import torch
    from model import CharLM, fit

    started = time.perf_counter()
    corpus = read_text(text)
    # Fine-tune the base model: it already knows English letters and spacing, so a few hundred
    # steps are enough to pick up the new text's words and style. Characters of the text that
    # the base has never seen are added to the vocabulary.
    torch.manual_seed(seed)
    lm = CharLM.load(BASE_CHECKPOINT).with_vocabulary_of(corpus)
    torch.set_num_threads(min(2, torch.get_num_threads()))  # small matrices: more threads only wait
    print(
        f"training on {len(corpus):,} characters ({len(lm.vocabulary)} in the vocabulary) "
        f"for {steps} steps, learning rate {learning_rate}",
        flush=True,
    )
    fit(lm, corpus, steps=steps, learning_rate=learning_rate, seed=seed)
    # The model's folder (and perhaps the working directory) is read-only at run time.
    target = lm.save(Path(tempfile.mkdtemp(prefix="char-lm-")) / "char-lm.pt")
    print(
        f"trained in {time.perf_counter() - started:.1f}s; wrote {target.name} "
        f"({target.stat().st_size / 1024:.0f} KiB)",
        flush=True,
    )
    return TrainingOutput(weights=Path(target))
