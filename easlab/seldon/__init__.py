"""Seldon Core Python components, hosted by easlab (SPEC §6).

``SeldonComponent``/``SeldonResponse`` are what ``seldon_core.user_model`` gives a
component module inside easlab; ``SeldonApp`` is the REST contract over one component;
``graph`` runs an inference graph of components in one service; ``messages`` gives
the proto messages' attribute access over JSON (the ``Feedback`` that
``send_feedback_raw`` reads).
"""

from __future__ import annotations

from easlab.seldon.errors import SeldonMicroserviceException, SeldonNotImplementedError
from easlab.seldon.user_model import SeldonComponent, SeldonResponse

__all__ = [
    "SeldonComponent",
    "SeldonMicroserviceException",
    "SeldonNotImplementedError",
    "SeldonResponse",
]
