"""Yields `tokens` tokens at `rate` per second, each stamped with time.monotonic() when it is
yielded: `<index>@<seconds> `. CLOCK_MONOTONIC is shared by every process on the machine, so
a watcher subtracts the stamp from its own monotonic clock to get the one-way latency."""

import time

from cog import BasePredictor, ConcatenateIterator, Input, streaming


class Predictor(BasePredictor):
    @streaming
    def predict(
        self,
        tokens: int = Input(default=50, ge=1, le=100000),
        rate: float = Input(default=50.0, ge=0.01, le=100000),
        start_delay: float = Input(default=0.0, ge=0, le=60),
    ) -> ConcatenateIterator[str]:
        time.sleep(start_delay)
        interval = 1.0 / rate
        due = time.monotonic()
        for index in range(tokens):
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            due += interval
            yield f"{index}@{time.monotonic():.6f} "
