# ruff: noqa
# Answers response_err(1001); raises when the text is "boom"; calls sys.exit() (in
# wrapperOnceExec or wrapperError) or raises KeyboardInterrupt for other words.
import sys

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
        data = reqData.list[0].data
        if data == b"boom":
            raise ValueError("the wrapper blew up")
        if data == b"exit":
            sys.exit(3)
        if data == b"interrupt":
            raise KeyboardInterrupt
        if data == b"exit in wrapperError":
            return Response().response_err(1002)
        if data == b"surrogate":
            raise ValueError("file \udcff.wav unreadable")  # a surrogateescape'd name
        return Response().response_err(1001)

    def wrapperError(self, ret):
        if ret == 1002:
            sys.exit("no message")
        return "识别无结果" if ret == 1001 else f"error {ret}"
