import sys

from cog import BaseRunner

sys.exit("the predictor refuses to load")


class Runner(BaseRunner):
    def run(self, text: str) -> str:
        return text
