"""metadata.memory: PAI-EAS kills an instance resident beyond it (OOMKilled) and
restarts it; the local kernel lets it run, so the model can be measured, and says it.

Each read of a service's metrics folds the monitor now (control.py ``fold_all``),
instance memory included, so the test counts readings instead of waiting for the
kernel's once-a-second tick.
"""

from __future__ import annotations

HUNGRY = """
import allspark


class Hungry(allspark.BaseProcessor):
    def initialize(self):
        self.weights = b"w" * (160 * 2**20)  # written, so resident: a 160 MB model

    def process(self, data):
        return b"ok", 200
"""


def _memory_lines(kernel, name):
    return [line for line in kernel.client.logs(name, n=200) if "metadata.memory" in line]


def test_an_instance_beyond_metadata_memory_is_a_warning_of_the_service(python_service, kernel):
    """A 160 MB model under metadata.memory 100 (MB) ran here without a word, and on
    PAI-EAS its instance would be OOMKilled again and again. The service's warnings and
    its log now say so, once for the instance however often the monitor reads it."""
    svc = python_service("mem_over", HUNGRY, memory=100)
    try:
        for _ in range(3):
            kernel.client.metrics(svc.name)
        desc = kernel.client.describe(svc.name)
        (warning,) = [w for w in desc["warnings"] if "metadata.memory" in w]
        assert "beyond metadata.memory (100 MB): PAI-EAS would kill it (OOMKilled)" in warning
        assert "raise metadata.memory" in warning
        (line,) = _memory_lines(kernel, svc.name)
        assert "[kernel] mem_over-0: " in line and " MB resident, beyond metadata.memory" in line
        resident = int(line.split(": ")[1].split(" MB")[0])
        assert resident > 160
        # raised: the warning goes with the old setting
        kernel.client.modify(svc.name, set={"metadata.memory": 4000})
        kernel.client.metrics(svc.name)
        desc = kernel.client.describe(svc.name)
        assert not [w for w in desc["warnings"] if "metadata.memory" in w], desc["warnings"]
    finally:
        kernel.delete(svc.name)


def test_an_instance_within_metadata_memory_says_nothing(python_service, kernel):
    svc = python_service("mem_within", HUNGRY, memory=4000)
    try:
        for _ in range(3):
            kernel.client.metrics(svc.name)
        desc = kernel.client.describe(svc.name)
        assert not [w for w in desc["warnings"] if "metadata.memory" in w]
        assert _memory_lines(kernel, svc.name) == []
    finally:
        kernel.delete(svc.name)
