# ruff: noqa
# Declares one param of each kind and answers what it was given, types included:
# under the aiges loader every value is a string.
import json

from aiges.sdk import (
    WrapperBase,
    StringParamField,
    NumberParamField,
    IntegerParamField,
    BooleanParamField,
    StringBodyField,
)
from aiges.dto import Response, ResponseData, DataListCls
from aiges.core.types import *

from record import record


class UserRequest(object):
    p1 = IntegerParamField(key="times", minimum=0, maximum=5, value=2)
    p2 = NumberParamField(key="ratio", minimum=0, maximum=100, value=0.5)
    p3 = BooleanParamField(key="loud", default=True)
    p4 = StringParamField(key="name", maxLength=16, value="ada")
    input1 = StringBodyField(key="text", value=b"hi")


class UserResponse(object):
    accept1 = StringBodyField(key="seen")


class Wrapper(WrapperBase):
    serviceId = "params"
    version = "v1"
    requestCls = UserRequest()
    responseCls = UserResponse()

    def wrapperInit(self, config):
        return 0

    def wrapperOnceExec(self, params, reqData):
        record("exec", params=params)
        seen = {k: [type(v).__name__, v] for k, v in dict(params).items()}
        r = ResponseData()
        r.key = "seen"
        r.setDataType(DataText)
        r.setData(json.dumps(seen, sort_keys=True).encode())
        res = Response()
        res.list = [r]
        return res

    def wrapperError(self, ret):
        return ""
