# ruff: noqa
# A wrapper written for aiges's C++ loader (aiges_c_python_wrapper), which calls
# wrapperOnceExec(params, reqData, usrTag, psrId): all four required here. It answers
# what it got as JSON.
import json

from aiges.sdk import WrapperBase, StringBodyField
from aiges.dto import Response, ResponseData, DataListCls
from aiges.core.types import *


class UserRequest(object):
    text = StringBodyField(key="text", value=b"abc")


class UserResponse(object):
    out = StringBodyField(key="out")


class Wrapper(WrapperBase):
    serviceId = "cppexec"
    version = "v1"
    requestCls = UserRequest()
    responseCls = UserResponse()

    def wrapperInit(self, config):
        return 0

    def wrapperOnceExec(self, params, reqData, usrTag, persId):
        seen = {"usrTag": usrTag, "persId": persId, "sid": params.get("sid")}
        l = ResponseData()
        l.key = "out"
        l.setData(json.dumps(seen, sort_keys=True).encode())
        r = Response()
        r.list = [l]
        return r
