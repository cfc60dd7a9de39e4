# ruff: noqa
# Answers response_err(1001); raises when the text is "boom".
from aiges.sdk import WrapperBase, StringBodyField
from aiges.dto import Response, ResponseData

from record import record


class UserRequest(object):
    input1 = StringBodyField(key="text", value=b"nothing to find")


class UserResponse(object):
    accept1 = StringBodyField(key="result")


class Wrapper(WrapperBase):
    serviceId = "errsvc"
    version = "v1"
    requestCls = UserRequest()
    responseCls = UserResponse()

    def wrapperInit(self, config):
        record("init", config=config)
        return 0

    def wrapperOnceExec(self, params, reqData):
        record("exec", params=params, reqData=reqData)
        if reqData.list[0].data == b"boom":
            raise ValueError("the wrapper blew up")
        return Response().response_err(1001)

    def wrapperError(self, ret):
        return "识别无结果" if ret == 1001 else f"error {ret}"
