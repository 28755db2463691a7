"""A small character-level language model: a one-layer LSTM that predicts the next character.

Shared by predict.py (loading a checkpoint and sampling), train.py (fine-tuning on a user's
text) and make_base.py (building the bundled base checkpoint). A checkpoint is one file written
with ``torch.save``: a dict holding the network's ``state_dict``, the vocabulary (a string, one
character per token) and the hyperparameters needed to rebuild the network.
"""

from __future__ import annotations

import math
import os
import secrets
from collections import Counter
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional

# The base vocabulary: newline plus printable ASCII. Every checkpoint starts with it, in this
# order, so a model fine-tuned from the base keeps the base's token ids for these characters.
BASE_VOCABULARY = "\n" + "".join(chr(code) for code in range(32, 127))
# A training text may add characters (accents, other scripts); only the most frequent are kept
# so that the embedding and the output layer stay small. Others are dropped from the text.
MAX_VOCABULARY = 1024

EMBEDDING_SIZE = 64
HIDDEN_SIZE = 128
BATCH_SIZE = 64
SEQUENCE_LENGTH = 100

CHECKPOINT_FORMAT = "char-lm/1"

Hidden = tuple[torch.Tensor, torch.Tensor]  # the LSTM's (h, c) state


class CharRNN(nn.Module):
    """Embedding -> one LSTM layer -> a linear layer giving logits over the vocabulary.

    (An LSTM rather than a GRU: on CPU, torch's LSTM kernel trains about twice as fast.)
    """

    def __init__(self, vocabulary_size: int, embedding_size: int, hidden_size: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocabulary_size, embedding_size)
        self.rnn = nn.LSTM(embedding_size, hidden_size, batch_first=True)
        self.head = nn.Linear(hidden_size, vocabulary_size)

    def forward(
        self, tokens: torch.Tensor, hidden: Hidden | None = None
    ) -> tuple[torch.Tensor, Hidden]:
        """Logits for each position of ``tokens`` (batch, time) and the LSTM's final state."""
        output, hidden = self.rnn(self.embedding(tokens), hidden)
        return self.head(output), hidden


class CharLM:
    """A network together with its vocabulary: encoding, sampling, saving and loading."""

    def __init__(
        self,
        vocabulary: str = BASE_VOCABULARY,
        embedding_size: int = EMBEDDING_SIZE,
        hidden_size: int = HIDDEN_SIZE,
        network: CharRNN | None = None,
    ) -> None:
        if len(set(vocabulary)) != len(vocabulary) or not vocabulary:
            raise ValueError("the vocabulary must be a non-empty string of distinct characters")
        self.vocabulary = vocabulary
        self.index = {character: i for i, character in enumerate(vocabulary)}
        self.embedding_size = embedding_size
        self.hidden_size = hidden_size
        self.network = network or CharRNN(len(vocabulary), embedding_size, hidden_size)

    # -- vocabulary ---------------------------------------------------------------------------

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text``; characters outside the vocabulary are skipped."""
        index = self.index
        return [index[character] for character in text if character in index]

    def decode(self, tokens: list[int]) -> str:
        return "".join(self.vocabulary[token] for token in tokens)

    def with_vocabulary_of(self, text: str) -> CharLM:
        """A copy whose vocabulary also holds the characters of ``text`` (most frequent first).

        The existing rows of the embedding and of the output layer are kept; rows for the new
        characters start from the network's usual random initialisation.
        """
        counts = Counter(character for character in text if character not in self.index)
        room = max(0, MAX_VOCABULARY - len(self.vocabulary))
        added = "".join(character for character, _ in counts.most_common(room))
        if not added:
            return self
        grown = CharLM(self.vocabulary + added, self.embedding_size, self.hidden_size)
        old, new = self.network.state_dict(), grown.network.state_dict()
        size = len(self.vocabulary)
        for name, tensor in old.items():
            if name in ("embedding.weight", "head.weight", "head.bias"):
                new[name][:size] = tensor
            else:
                new[name] = tensor
        grown.network.load_state_dict(new)
        return grown

    # -- checkpoints --------------------------------------------------------------------------

    def save(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        torch.save(
            {
                "format": CHECKPOINT_FORMAT,
                "vocabulary": self.vocabulary,
                "embedding_size": self.embedding_size,
                "hidden_size": self.hidden_size,
                "state_dict": self.network.state_dict(),
            },
            path,
        )
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> CharLM:
        # weights_only=True: a checkpoint is data (tensors, strings, ints), never code.
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(checkpoint, dict) or checkpoint.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"{path} is not a char-lm checkpoint (format {CHECKPOINT_FORMAT})")
        lm = cls(
            checkpoint["vocabulary"],
            int(checkpoint["embedding_size"]),
            int(checkpoint["hidden_size"]),
        )
        lm.network.load_state_dict(checkpoint["state_dict"])
        lm.network.eval()
        return lm

    # -- sampling -----------------------------------------------------------------------------

    @torch.inference_mode()
    def generate(self, prompt: str, length: int, temperature: float = 0.8, seed: int = -1) -> str:
        """Sample ``length`` characters that continue ``prompt``; returns the continuation only.

        Characters of the prompt that are not in the vocabulary are skipped. An empty prompt
        (or one made only of unknown characters) starts from a newline. A ``seed`` >= 0 makes
        the result reproducible; -1 picks a random seed.
        """
        if seed < 0:
            seed = secrets.randbelow(2**31)
        generator = torch.Generator().manual_seed(seed)
        self.network.eval()
        tokens = self.encode(prompt) or [self.index.get("\n", 0)]
        logits, hidden = self.network(torch.tensor([tokens]))
        last = logits[0, -1]
        generated: list[int] = []
        for _ in range(length):
            probabilities = torch.softmax(last / max(temperature, 1e-3), dim=-1)
            token = int(torch.multinomial(probabilities, 1, generator=generator))
            generated.append(token)
            logits, hidden = self.network(torch.tensor([[token]]), hidden)
            last = logits[0, -1]
        return self.decode(generated)


def fit(
    lm: CharLM,
    text: str,
    steps: int,
    learning_rate: float,
    seed: int = 0,
    log_every: int = 10,
) -> float:
    """Train ``lm`` in place on random windows of ``text``; returns the final mean loss.

    Prints ``step N/M loss X.XXXX`` (the mean loss since the previous line) at step 1, every
    ``log_every`` steps and at the last step. The learning rate decays along a cosine curve to
    a tenth of ``learning_rate``.
    """
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    data = torch.tensor(lm.encode(text), dtype=torch.long)
    if len(data) < 2:
        raise ValueError("the text has fewer than 2 characters the model can learn from")
    window = min(SEQUENCE_LENGTH, len(data) - 1)
    offsets = torch.arange(window + 1)
    network = lm.network
    network.train()
    optimizer = torch.optim.Adam(network.parameters(), lr=learning_rate)
    total, count, mean = 0.0, 0, float("nan")
    for step in range(1, steps + 1):
        progress = (step - 1) / max(1, steps - 1)
        for group in optimizer.param_groups:
            group["lr"] = learning_rate * (0.1 + 0.45 * (1 + math.cos(math.pi * progress)))
        starts = torch.randint(0, len(data) - window, (BATCH_SIZE, 1), generator=generator)
        batch = data[starts + offsets]
        logits, _ = network(batch[:, :-1])
        loss = functional.cross_entropy(
            logits.reshape(-1, logits.size(-1)), batch[:, 1:].reshape(-1)
        )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(network.parameters(), 1.0)
        optimizer.step()
        total, count = total + loss.item(), count + 1
        if step == 1 or step % log_every == 0 or step == steps:
            mean = total / count
            print(f"step {step}/{steps} loss {mean:.4f}", flush=True)
            total, count = 0.0, 0
    network.eval()
    return mean
