"""``aiges.errors``: the SDK's error codes, which a wrapper may return or compare with."""

from __future__ import annotations

OK = 0
INIT_ERROR = 30001
USER_INIT_ERROR = 30002
USER_EXEC_ERROR = 30003
