"""Run a predictor's setup() once, outside Cog's runtime, to print the full traceback.

Cog's runtime reports only the last line of a setup() exception; this standalone script
(run with the model environment's python, cwd = the model directory) shows where it failed.
"""

import asyncio
import inspect
import sys
import traceback


def main() -> int:
    sys.path.insert(0, ".")
    try:
        from cog.predictor import load_predictor_from_ref

        predictor = load_predictor_from_ref(sys.argv[1])
        setup = getattr(predictor, "setup", None)
        if setup is None:
            return 0
        kwargs = {"weights": None} if "weights" in inspect.signature(setup).parameters else {}
        result = setup(**kwargs)
        if inspect.isawaitable(result):
            asyncio.run(result)
    except BaseException:  # noqa: BLE001 (everything is reported to the user)
        sys.stdout.flush()
        traceback.print_exc()
        return 1
    print("setup() succeeded when run again: the failure may depend on timing or memory")
    return 0


if __name__ == "__main__":
    sys.exit(main())
