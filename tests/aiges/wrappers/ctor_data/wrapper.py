# ruff: noqa
# Passes its output's data to the ResponseData constructor, which aiges 0.16.0 drops.
from aiges.sdk import WrapperBase, StringBodyField
from aiges.dto import Response, ResponseData


class UserRequest(object):
    text = StringBodyField(key="text", value=b"abc")


class UserResponse(object):
    out = StringBodyField(key="out")


class Wrapper(WrapperBase):
    serviceId = "ctor"
    version = "v1"
    requestCls = UserRequest()
    responseCls = UserResponse()

    def wrapperInit(self, config):
        return 0

    def wrapperOnceExec(self, params, reqData):
        data = reqData.get("text").data
        res = Response()
        res.list = [ResponseData("out", data, len(data))]
        return res
