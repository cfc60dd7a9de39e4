"""PAI-EAS itself as a target: the same verbs and service.json, through the official SDK.

``easlab.connect(target="pai", region="cn-hangzhou")`` returns a ``PaiClient``
with the methods of the local ``KernelClient`` (easlab/client/control.py), so
``easlab.ops``, the ``easlab`` command and the ``%eas`` magics work unchanged.
The SDKs (``alibabacloud-eas20210701``, ``alibabacloud-credentials``,
``alibabacloud-oss-v2``; ``pip install easlab[pai]``) are imported only when a
cloud call is made.
"""

from __future__ import annotations

from easlab._lazy import lazy_exports
from easlab.cloud.errors import PaiError

__all__ = ["PaiClient", "PaiError", "connect_pai"]


__getattr__, __dir__ = lazy_exports(
    __name__,
    {"PaiClient": "easlab.cloud.client", "connect_pai": "easlab.cloud.client"},
    ("PaiError",),
)
