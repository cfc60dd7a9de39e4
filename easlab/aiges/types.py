"""``aiges.core.types``: data types and statuses of aiges data nodes (SPEC §6, aiges).

Values as in aiges 0.16.0: types text/audio/image/video = 0..3, statuses
begin/continue/end/once = 0..3.
"""

from __future__ import annotations

STRING = 0
AUDIO = 1
IMAGE = 2
VIDEO = 3

DataText = 0
DataAudio = 1
DataImage = 2
DataVideo = 3

Types = {0: "text", 1: "audio", 2: "image", 3: "video"}

DataBegin = 0
DataContinue = 1
DataEnd = 2
DataOnce = 3

Status = {0: "begin", 1: "continue", 2: "end", 3: "once"}

Once = DataOnce

THREAD_MODE = "thread"
PROCESS_MODE = "process"

__all__ = [
    "STRING",
    "AUDIO",
    "IMAGE",
    "VIDEO",
    "DataText",
    "DataAudio",
    "DataImage",
    "DataVideo",
    "Types",
    "DataBegin",
    "DataContinue",
    "DataEnd",
    "DataOnce",
    "Status",
    "Once",
    "THREAD_MODE",
    "PROCESS_MODE",
]
