from typing import Optional, Union

from cog import BaseRunner, Input


class Runner(BaseRunner):
    def run(
        self,
        value: Optional[Union[str, int]] = None,
        limit: str | float | None = Input(description="A limit"),
    ) -> str:
        return str(value)
