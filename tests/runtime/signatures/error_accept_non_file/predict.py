from cog import BaseRunner, Input


class Runner(BaseRunner):
    def run(self, text: str = Input(accept="text/plain")) -> str:
        return text
