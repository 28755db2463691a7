from cog import BaseRunner, Input


class Runner(BaseRunner):
    def run(self, steps: int = Input(default=0, ge=1)) -> int:
        return steps
