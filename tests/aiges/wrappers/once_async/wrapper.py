# ruff: noqa
# A one-shot wrapper for the loader's asynchronous mode (aiges.toml [aiges] asyncMode =
# true): wrapperOnceExecAsync takes the request, returns 0, and a worker thread hands the
# Response to callback(r, sid); wrapperOnceExec is left a stub, as such wrappers leave it.
# The text "refuse" is refused with code 7; "error" answers response_err(8) through the
# callback; "silent" never calls back.
import threading

from aiges.sdk import WrapperBase, StringBodyField
from aiges.dto import Response, ResponseData, callback
from aiges.core.types import *


class UserRequest(object):
    text = StringBodyField(key="text", value=b"abc")


class UserResponse(object):
    out = StringBodyField(key="out")


class Wrapper(WrapperBase):
    serviceId = "onceasync"
    version = "v1"
    requestCls = UserRequest()
    responseCls = UserResponse()

    def wrapperInit(self, config):
        return 0

    def wrapperError(self, ret):
        return {7: "queue full", 8: "engine failed"}.get(ret, "")

    def wrapperOnceExec(self, params, reqData, usrTag="", persId=0):
        pass

    def wrapperOnceExecAsync(self, params, reqData, usrTag="9527", persId=0):
        text = reqData.get("text").data
        if text == b"refuse":
            return 7

        def work():
            r = Response()
            if text == b"error":
                callback(r.response_err(8), usrTag)
                return
            l = ResponseData()
            l.key = "out"
            l.setDataType(DataText)
            l.setData(text[::-1])
            r.list = [l]
            callback(r, usrTag)

        if text != b"silent":
            threading.Thread(target=work).start()
        return 0
