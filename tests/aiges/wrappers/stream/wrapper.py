# ruff: noqa
# A session (stream) wrapper: wrapperCreate/Write/Read/Destroy and no wrapperOnceExec.
from aiges.sdk import WrapperBase, StringBodyField
from aiges.dto import SessionCreateResponse


class UserRequest(object):
    text = StringBodyField(key="text", value=b"abc")


class UserResponse(object):
    out = StringBodyField(key="out")


class Wrapper(WrapperBase):
    serviceId = "st"
    version = "v1"
    requestCls = UserRequest()
    responseCls = UserResponse()

    def wrapperInit(self, config):
        return 0

    def wrapperCreate(self, params, sid, persId=0, usrTag=""):
        s = SessionCreateResponse()
        s.handle = sid
        return s

    def wrapperWrite(self, handle, req, sid):
        return 0

    def wrapperRead(self, handle):
        return []

    def wrapperDestroy(self, handle):
        return 0
