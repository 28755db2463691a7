from cog import BaseRunner


class Runner(BaseRunner):
    def run(self, text: str) -> str:
        return text

    def predict(self, text: str) -> str:
        return text
