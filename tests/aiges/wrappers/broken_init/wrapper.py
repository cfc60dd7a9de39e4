# ruff: noqa
from aiges.sdk import WrapperBase, StringBodyField


class UserRequest(object):
    input1 = StringBodyField(key="text")


class UserResponse(object):
    accept1 = StringBodyField(key="out")


class Wrapper(WrapperBase):
    serviceId = "broken"
    version = "v1"
    requestCls = UserRequest()
    responseCls = UserResponse()

    def wrapperInit(self, config):
        return 42

    def wrapperError(self, ret):
        return "model file missing" if ret == 42 else ""

    def wrapperOnceExec(self, params, reqData):
        raise AssertionError("never called")
