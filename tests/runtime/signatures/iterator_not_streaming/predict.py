from typing import Iterator

import cog


class Runner(cog.BaseRunner):
    @cog.concurrent
    def run(self, prompt: str) -> Iterator[str]:
        yield prompt
