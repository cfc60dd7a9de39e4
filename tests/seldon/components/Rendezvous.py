# ruff: noqa
# A model that waits for its siblings: each call meets the other children of its group at
# a barrier, which only a call made while they run can pass (a call made alone breaks it
# when its wait ends). Children called one at a time cannot all answer.
import sys
import threading
import types

# easlab loads this file once per graph node: the barriers live where every load finds them
_SHARED = sys.modules.setdefault("_rendezvous_barriers", types.ModuleType("_rendezvous_barriers"))
if not hasattr(_SHARED, "barriers"):
    _SHARED.barriers = {}


class Rendezvous:
    def __init__(self, group="g", parties=2, answer=0, fail=""):
        self.barrier = _SHARED.barriers.setdefault(group, threading.Barrier(parties, timeout=5))
        self.answer = answer
        self.fail = fail

    def predict(self, X, names, meta=None):
        self.barrier.wait()  # threading.BrokenBarrierError unless every sibling is here
        if self.fail:
            raise ValueError(self.fail)
        return [[self.answer]]

    def send_feedback(self, features, feature_names, reward, truth, routing=None):
        self.barrier.wait()
        return []
