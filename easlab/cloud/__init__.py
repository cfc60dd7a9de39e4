"""PAI-EAS itself as a target: the same verbs and service.json, through the official SDK.

``easlab.connect(target="pai", region="cn-hangzhou")`` returns a ``PaiClient``
with the methods of the local ``KernelClient`` (easlab/client/control.py), so
``easlab.ops``, the ``easlab`` command and the ``%eas`` magics work unchanged.
The SDKs (``alibabacloud-eas20210701``, ``alibabacloud-credentials``,
``alibabacloud-oss-v2``; ``pip install easlab[pai]``) are imported only when a
cloud call is made.
"""

from __future__ import annotations

from easlab.cloud.errors import PaiError

__all__ = ["PaiClient", "PaiError", "connect_pai"]


def __getattr__(name: str) -> object:
    if name in ("PaiClient", "connect_pai"):
        from easlab.cloud import client

        return getattr(client, name)
    raise AttributeError(name)
