# ruff: noqa
# A session (stream) wrapper: wrapperCreate/Write/Read/Destroy and no wrapperOnceExec.
# wrapperRead answers "nothing yet" once, then the upper-cased text in two pieces, the
# last with status DataEnd. The "fail" parameter makes one hook fail.
from aiges.sdk import WrapperBase, StringParamField, StringBodyField
from aiges.dto import Response, ResponseData, SessionCreateResponse
from aiges.core.types import *

import time

from record import record

FAILS = [
    "none",
    "create",
    "create_code",
    "write",
    "write_raise",
    "read_raise",
    "read_error",
    "never_ends",
    "destroy_raise",
    "hang_read",
    "write_none",
    "write_response",
    "write_text",
    "destroy_response",
]


class UserRequest(object):
    fail = StringParamField(key="fail", enums=FAILS, value="none")
    text = StringBodyField(key="text", value=b"abc")


class UserResponse(object):
    out = StringBodyField(key="out")


class Wrapper(WrapperBase):
    serviceId = "st"
    version = "v1"
    requestCls = UserRequest()
    responseCls = UserResponse()

    def wrapperInit(self, config):
        self.sessions = {}
        return 0

    def wrapperError(self, ret):
        return {7: "no free engine", 8: "bad frame", 9: "engine crashed"}.get(ret, "")

    def wrapperCreate(self, params, sid, persId=0, usrTag=""):
        record("create", params=params, sid=sid)
        s = SessionCreateResponse()
        if params["fail"] == "create":
            raise RuntimeError("engine pool exhausted")
        if params["fail"] == "create_code":
            s.error_code = 7
            return s
        s.handle = "h-" + sid
        self.sessions[s.handle] = {"fail": params["fail"], "pieces": None}
        return s

    def wrapperWrite(self, handle, req, sid):
        record("write", reqData=req, sid=sid)
        session = self.sessions[handle]
        if session["fail"] == "write":
            return 8
        if session["fail"] == "write_raise":
            raise ValueError("cannot decode frame")
        if session["fail"] == "write_none":
            return None
        if session["fail"] == "write_response":
            return Response()  # the wrong hook's answer
        if session["fail"] == "write_text":
            return "0"
        text = req.get("text").data.upper()
        half = len(text) // 2
        session["pieces"] = [b"", text[:half], text[half:]]
        return 0

    def wrapperRead(self, handle):
        session = self.sessions[handle]
        if session["fail"] == "read_raise":
            raise KeyError("lost")
        if session["fail"] == "hang_read":
            time.sleep(3600)  # an engine that never answers
        r = Response()
        if session["fail"] == "read_error":
            return r.response_err(9)
        l = ResponseData()
        l.key = "out"
        if session["fail"] == "never_ends":
            l.status = DataContinue
            l.setData(b"")
        else:
            piece = session["pieces"].pop(0)
            l.status = DataEnd if not session["pieces"] else DataContinue
            l.setData(piece)
        r.list = [l]
        return r

    def wrapperDestroy(self, handle):
        record("destroy", handle=handle)
        fail = self.sessions.pop(handle)["fail"]
        if fail == "destroy_raise":
            raise RuntimeError("engine already gone")
        if fail == "destroy_response":
            return Response()  # the wrong hook's answer
        return 0
