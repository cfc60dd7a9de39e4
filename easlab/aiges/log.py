"""``aiges.utils.log``: the ``log`` logger wrappers import.

A named logger (``aiges``) that writes to stderr, so a wrapper's lines land in
the instance log without touching the root logger of the process.
"""

from __future__ import annotations

import logging
import sys

FORMAT = "%(asctime)s - %(name)s:%(funcName)s:%(lineno)s - %(levelname)s:  %(message)s"


def getLogger(fmt: str = FORMAT, level: int = logging.DEBUG, name: str = "aiges") -> logging.Logger:
    """The wrapper logger, with one stderr handler."""
    logger = logging.getLogger(name)
    logger.setLevel(level)
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(fmt))
        handler.setLevel(logging.INFO)
        logger.addHandler(handler)
    logger.propagate = False
    return logger


def getFileLogger(
    fmt: str = FORMAT, level: int = logging.DEBUG, name: str = "wrapper"
) -> logging.Logger:
    """As ``getLogger``: locally the file logger writes to stderr too (no /log/app)."""
    return getLogger(fmt, level, name)


log = getLogger()

#: as the SDK's module (no ``__all__``), a star import brings ``logging`` too
__all__ = ["log", "getLogger", "getFileLogger", "logging"]
