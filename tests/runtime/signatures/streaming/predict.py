import cog
from cog import BaseRunner, ConcatenateIterator, Input


class Runner(BaseRunner):
    @cog.streaming
    def run(
        self,
        prompt: str = Input(description="Prompt"),
        max_new_tokens: int = Input(default=64, ge=1),
    ) -> ConcatenateIterator[str]:
        yield from prompt.split()
