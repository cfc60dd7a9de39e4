# ruff: noqa
# A session wrapper with the hook signatures of the SDK's template (aiges/wrapper.py):
# wrapperCreate(self, params, sid, userTag="", persId=0), written for the gRPC plugin,
# which passes sid= and userTag= by name. It records what each hook gets.
from aiges.sdk import WrapperBase, StringBodyField
from aiges.dto import Response, ResponseData, SessionCreateResponse
from aiges.core.types import *

from record import record


class UserRequest(object):
    text = StringBodyField(key="text", value=b"abc")


class UserResponse(object):
    out = StringBodyField(key="out")


class Wrapper(WrapperBase):
    serviceId = "sttag"
    version = "v1"
    requestCls = UserRequest()
    responseCls = UserResponse()

    def wrapperInit(self, config):
        self.texts = {}
        return 0

    def wrapperCreate(self, params, sid, userTag="", persId=0):
        record("create", sid=sid, userTag=userTag, persId=persId)
        s = SessionCreateResponse()
        s.handle = "h-" + userTag
        s.error_code = 0
        return s

    def wrapperWrite(self, handle, req, sid=""):
        record("write", handle=handle, sid=sid)
        self.texts[handle] = req.get("text").data
        return 0

    def wrapperRead(self, handle):
        r = Response()
        l = ResponseData()
        l.key = "out"
        l.status = DataEnd
        l.setData(self.texts[handle].upper())
        r.list = [l]
        return r

    def wrapperDestroy(self, handle):
        record("destroy", handle=handle)
        self.texts.pop(handle, None)
        return 0
