# ruff: noqa
# Says which aiges loader runs it: the AIGES_PLUGIN_MODE of its environment and the
# type of params (the C++ loader's dict, the gRPC plugin's protobuf map).
import os

from aiges.sdk import WrapperBase, StringBodyField
from aiges.dto import Response, ResponseData
from aiges.core.types import *


class UserRequest(object):
    input1 = StringBodyField(key="text", value=b"which")


class UserResponse(object):
    accept1 = StringBodyField(key="mode")


class Wrapper(WrapperBase):
    serviceId = "mode"
    version = "v1"
    requestCls = UserRequest()
    responseCls = UserResponse()

    def wrapperInit(self, config):
        return 0

    def wrapperOnceExec(self, params, reqData):
        said = os.environ.get("AIGES_PLUGIN_MODE", "")
        r = ResponseData()
        r.key = "mode"
        r.setDataType(DataText)
        r.setData(f"{said or '-'} {type(params).__name__}".encode())
        res = Response()
        res.list = [r]
        return res

    def wrapperError(self, ret):
        return ""
