"""The files ``pysdk init`` writes: the manual's ``app.py`` and ``app.json``."""

from __future__ import annotations

from typing import Any

__all__ = ["APP_PY", "app_json"]

APP_PY = '''\
# -*- coding: utf-8 -*-
"""A PAI-EAS python processor (allspark SDK), made by `easlab pysdk init`.

Test it standalone:   ENV/bin/python app.py
                      curl http://127.0.0.1:8080/test -d '10 20'
Package it:           easlab pysdk pack .     (ENV/ and this code, at the archive's root)
"""
import allspark


class MyProcessor(allspark.BaseProcessor):
    """Answers whether w1 * x + w0 >= y for a request body 'x y'."""

    def initialize(self):
        """Runs once per process before any request: load the model here
        (files next to app.py are found by relative paths)."""
        self.module = {"w0": 100, "w1": 2}

    def pre_process(self, data):
        """The request body (bytes) -> the model's input."""
        x, y = data.split(b" ")
        return int(x), int(y)

    def post_process(self, data):
        """The model's output -> the response body (bytes)."""
        return bytes(data, encoding="utf8")

    def process(self, data):
        """One request: return (response bytes, status code); 0 or 200 mean success."""
        x, y = self.pre_process(data)
        w0 = self.module["w0"]
        w1 = self.module["w1"]
        y1 = w1 * x + w0
        if y1 >= y:
            return self.post_process("True"), 200
        else:
            return self.post_process("False"), 400


if __name__ == "__main__":
    # worker_threads: how many requests are processed concurrently
    runner = MyProcessor(worker_threads=10)
    runner.run()
'''


def app_json(name: str) -> dict[str, Any]:
    """The service.json template: the packed archive as the python processor."""
    return {
        "name": name.replace("-", "_"),
        "processor_entry": "./app.py",
        "processor_type": "python",
        "processor_path": f"../{name}.tar.gz",
        "metadata": {"instance": 1, "memory": 2000, "cpu": 1},
    }
