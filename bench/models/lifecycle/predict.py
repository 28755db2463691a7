"""Reports its own life: when this process imported the predictor, when setup() started and
ended (with an id drawn once per setup() call) and when predict() began, on time.monotonic().
"""

import json
import os
import time
import uuid

from cog import BasePredictor

IMPORTED = time.monotonic()


class Predictor(BasePredictor):
    def setup(self) -> None:
        self.setup_started = time.monotonic()
        self.setup_id = uuid.uuid4().hex
        self.setup_finished = time.monotonic()

    def predict(self, text: str = "bench", sleep: float = 0.0) -> str:
        started = time.monotonic()
        time.sleep(sleep)  # a model's own time that leaves the CPU free (as on a GPU)
        return json.dumps(
            {
                "predict_started": started,
                "imported": IMPORTED,
                "setup_started": self.setup_started,
                "setup_finished": self.setup_finished,
                "setup_id": self.setup_id,
                "pid": os.getpid(),
                "text": text,
            }
        )
