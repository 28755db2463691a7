from cog import BaseRunner, Input


class Runner(BaseRunner):
    def setup(self) -> None:
        # Nothing to load; a real model would load its weights here, once per process.
        print("hello-world: ready")

    def run(
        self,
        text: str = Input(description="Who or what to greet.", default="world"),
    ) -> str:
        print(f"greeting {text!r}")
        return "hello " + text
