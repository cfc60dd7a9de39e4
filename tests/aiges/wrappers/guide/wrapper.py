# ruff: noqa
# The guide's pattern (seed 004): cls-first hooks, an argument-less wrapperFini,
# class config, an enum param and an audio input; setData as aiges 0.16.0 needs.
import os

from aiges.sdk import WrapperBase, StringParamField, AudioBodyField, StringBodyField
from aiges.dto import Response, ResponseData, DataListCls
from aiges.core.types import *
from aiges.utils.log import log

from record import record

HERE = os.path.dirname(os.path.abspath(__file__))


class UserRequest(object):
    params1 = StringParamField(key="mode", enums=["music", "humming"], value="humming")
    input1 = AudioBodyField(key="data", path=os.path.join(HERE, "test.wav"))


class UserResponse(object):
    accept1 = StringBodyField(key="output_text")


class Wrapper(WrapperBase):
    serviceId = "acr"
    version = "v1"
    requestCls = UserRequest()
    responseCls = UserResponse()
    requrl = None
    config = {"requrl": "http://localhost/identify", "http_method": "POST"}

    def wrapperInit(cls, config: {}) -> int:
        record("init", config=config)
        Wrapper.requrl = config["requrl"]
        return 0

    def wrapperError(cls, ret: int) -> str:
        if ret == 1001:
            return "识别无结果"
        return f"User Defined Error: {ret}"

    def wrapperFini() -> int:
        record("fini")
        return 0

    def wrapperOnceExec(self, params: {}, reqData: DataListCls) -> Response:
        record("exec", params=params, reqData=reqData)
        res = Response()
        src = reqData.list[0].data
        text = f"{params['mode']}:{len(src)}:{Wrapper.requrl}"
        l = ResponseData()
        l.key = "output_text"
        l.type = 0
        l.status = 3
        l.setData(text.encode())
        res.list = [l]
        return res
