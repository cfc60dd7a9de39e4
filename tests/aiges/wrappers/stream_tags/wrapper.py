# ruff: noqa
# A session wrapper written for aiges's gRPC plugin (AIGES_PLUGIN_MODE=python): the hook
# signatures of the SDK's template (aiges/wrapper.py), wrapperCreate(self, params, sid,
# userTag="", persId=0), which the plugin calls with sid= and userTag= by name, and its
# results handed to the plugin's callback(r, handle, sid) (the plugin never calls
# wrapperRead). It records what each hook gets.
from aiges.sdk import WrapperBase, StringBodyField
from aiges.dto import Response, ResponseData, SessionCreateResponse
from aiges.callback import callback
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
        return 0

    def wrapperCreate(self, params, sid, userTag="", persId=0):
        record("create", sid=sid, userTag=userTag, persId=persId)
        s = SessionCreateResponse()
        s.handle = "h-" + userTag
        s.error_code = 0
        return s

    def wrapperWrite(self, handle, req, sid=""):
        record("write", handle=handle, sid=sid)
        r = Response()
        l = ResponseData()
        l.key = "out"
        l.status = DataEnd
        l.setData(req.get("text").data.upper())
        r.list = [l]
        callback(r, handle, sid)
        return 0

    def wrapperDestroy(self, handle):
        record("destroy", handle=handle)
        return 0
