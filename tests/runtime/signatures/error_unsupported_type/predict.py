from cog import BaseRunner


class Color:
    pass


class Runner(BaseRunner):
    def run(self, color: Color) -> str:
        return "ok"
