# ruff: noqa
# A component as users write it for seldon-core (the guide's style kept): not thread-safe.
import threading
import time


class Concurrency:
    def __init__(self):
        self.lock = threading.Lock()
        self.active = 0
        self.peak = 0

    def predict(self, X, names, meta=None):
        with self.lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
        time.sleep(0.3)
        with self.lock:
            self.active -= 1
        return {"peak": self.peak}
