# ruff: noqa
# Two inputs, the second optional to the wrapper: reqData.get("hint") is None when not sent.
from aiges.sdk import WrapperBase, StringBodyField
from aiges.dto import Response, ResponseData
from aiges.core.types import *


class UserRequest(object):
    text = StringBodyField(key="text", value=b"abc")
    hint = StringBodyField(key="hint", value=b"h")


class UserResponse(object):
    out = StringBodyField(key="out")


class Wrapper(WrapperBase):
    serviceId = "opt"
    version = "v1"
    requestCls = UserRequest()
    responseCls = UserResponse()

    def wrapperInit(self, config):
        return 0

    def wrapperOnceExec(self, params, reqData):
        text = reqData.get("text").data.decode()  # required by this wrapper
        hint = reqData.get("hint")
        keys = ",".join(n.key for n in reqData.list)
        r = ResponseData(key="out", type=DataText)
        r.setData(f"{text}|{hint.data.decode() if hint else '-'}|{keys}".encode())
        res = Response()
        res.list = [r]
        return res
