# ruff: noqa
# Echoes its text; the text "hang" blocks wrapperOnceExec for an hour (a wrapper stuck
# in its engine).
import time

from aiges.sdk import WrapperBase, StringBodyField
from aiges.dto import Response, ResponseData
from aiges.core.types import *


class UserRequest(object):
    text = StringBodyField(key="text", value=b"hi")


class UserResponse(object):
    out = StringBodyField(key="out")


class Wrapper(WrapperBase):
    serviceId = "hang"
    version = "v1"
    requestCls = UserRequest()
    responseCls = UserResponse()

    def wrapperInit(self, config):
        return 0

    def wrapperOnceExec(self, params, reqData):
        text = reqData.get("text").data
        if text == b"hang":
            time.sleep(3600)
        r = ResponseData()
        r.key = "out"
        r.setDataType(DataText)
        r.setData(text)
        res = Response()
        res.list = [r]
        return res
