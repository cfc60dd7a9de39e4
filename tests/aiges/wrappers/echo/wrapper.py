# ruff: noqa
# A text echo with an enum parameter, a number parameter and a boolean.
from aiges.sdk import (
    WrapperBase,
    StringParamField,
    NumberParamField,
    BooleanParamField,
    StringBodyField,
)
from aiges.dto import Response, ResponseData, DataListCls
from aiges.core.types import *

from record import record


class UserRequest(object):
    p1 = StringParamField(key="case", enums=["upper", "lower"], value="upper")
    p2 = NumberParamField(key="repeat", minimum=1, maximum=3, value=2)
    p3 = BooleanParamField(key="shout", default=False)
    input1 = StringBodyField(key="text", value=b"Hello aiges")


class UserResponse(object):
    accept1 = StringBodyField(key="echo")


class Wrapper(WrapperBase):
    serviceId = "echo"
    version = "v2"
    call_type = "1"
    requestCls = UserRequest()
    responseCls = UserResponse()
    config = {"suffix": "!"}

    def wrapperInit(self, config):
        record("init", config=config)
        self.suffix = config.get("suffix", "")
        return 0

    def wrapperOnceExec(self, params, reqData):
        record("exec", params=params, reqData=reqData)
        text = reqData.get("text").data.decode()
        text = text.upper() if params["case"] == "upper" else text.lower()
        # the loader passes every param as a string ("false" is truthy): compare the
        # text (str() as well, since the SDK's own run() passes the declared False)
        shout = str(params["shout"]).lower() == "true"
        text = " ".join([text] * int(params["repeat"])) + (self.suffix if shout else "")
        r = ResponseData()
        r.key = "echo"
        r.setDataType(DataText)
        r.setData(text.encode())
        res = Response()
        res.list = [r]
        return res

    def wrapperError(self, ret):
        return ""
