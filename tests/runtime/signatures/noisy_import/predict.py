import atexit
import os
import sys
import threading

from cog import BaseRunner

print("hello from the predictor module")
sys.stdout.write("{not json\n")
sys.stdout.flush()
os.write(1, b"native write to fd 1\n")
atexit.register(print, "goodbye from atexit")
# A non-daemon thread that outlives the import must not keep the generator running.
threading.Thread(target=threading.Event().wait, args=(300,), daemon=False).start()


class Runner(BaseRunner):
    def run(self, text: str) -> str:
        print("never called")
        return text
