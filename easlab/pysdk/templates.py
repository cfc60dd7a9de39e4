"""The files ``pysdk init`` writes: the manual's ``app.py`` and ``app.json``."""

from __future__ import annotations

import re
from typing import Any

__all__ = ["APP_PY", "app_json", "service_name"]

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


def service_name(folder_name: str) -> str:
    """A valid service name (easlab.spec.NAME_RULE, the kernel's and EAS's rule) from a
    project folder's name: lowercase, other characters → ``_``, a letter first.

    >>> service_name("My-Demo"), service_name("2demo"), service_name("demo.v2")
    ('my_demo', 'pysdk_2demo', 'demo_v2')
    """
    from easlab.spec import NAME_MAX, check_name

    name = re.sub(r"[^a-z0-9_]", "_", folder_name.strip().lower())
    if not name[:1].isalpha() or not name[:1].isascii():
        name = f"pysdk_{name}".rstrip("_") if name.strip("_") else "pysdk_demo"
    return check_name(name[:NAME_MAX])


def app_json(name: str) -> dict[str, Any]:
    """The service.json template for project folder ``name``: the packed archive
    (``../<name>.tar.gz``) as the python processor, under a valid service name."""
    return {
        "name": service_name(name),
        "processor_entry": "./app.py",
        "processor_type": "python",
        "processor_path": f"../{name}.tar.gz",
        "metadata": {"instance": 1, "memory": 2000, "cpu": 1},
    }
