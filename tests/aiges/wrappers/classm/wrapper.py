# ruff: noqa
# Hooks written as @classmethod, state kept on the class.
from aiges.sdk import WrapperBase, StringParamField, StringBodyField
from aiges.dto import Response, ResponseData
from aiges.core.types import *

from record import record


class UserRequest(object):
    lang = StringParamField(key="lang", minLength=2, maxLength=5, value="en")
    input1 = StringBodyField(key="text", value=b"abc")


class UserResponse(object):
    accept1 = StringBodyField(key="out")


class Wrapper(WrapperBase):
    serviceId = "cm"
    version = "v3"
    route = "/custom/route"
    requestCls = UserRequest()
    responseCls = UserResponse()
    config = {"greeting": "hi"}
    greeting = None

    @classmethod
    def wrapperInit(cls, config):
        record("init", config=config)
        cls.greeting = config["greeting"]
        return 0

    @classmethod
    def wrapperOnceExec(cls, params, reqData):
        record("exec", params=params, reqData=reqData)
        r = ResponseData()
        r.key = "out"
        r.setData(f"{cls.greeting} {params['lang']} {reqData.list[0].data.decode()}".encode())
        res = Response()
        res.list = [r]
        return res

    @classmethod
    def wrapperError(cls, ret):
        return "classmethod error"

    @classmethod
    def wrapperFini(cls):
        record("fini")
        return 0
