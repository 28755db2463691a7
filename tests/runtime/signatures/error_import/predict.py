import selfrep_no_such_module  # noqa: F401
from cog import BaseRunner


class Runner(BaseRunner):
    def run(self, text: str) -> str:
        return text
