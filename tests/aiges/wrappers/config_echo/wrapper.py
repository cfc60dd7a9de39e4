# ruff: noqa
# Answers the config its wrapperInit got, as JSON.
import json

from aiges.sdk import WrapperBase, StringBodyField
from aiges.dto import Response, ResponseData


class UserRequest(object):
    text = StringBodyField(key="text", value=b"x")


class UserResponse(object):
    config = StringBodyField(key="config")


class Wrapper(WrapperBase):
    serviceId = "cfg"
    version = "v1"
    requestCls = UserRequest()
    responseCls = UserResponse()
    config = {"from": "class"}

    def wrapperInit(self, config):
        self.seen = dict(config)
        return 0

    def wrapperOnceExec(self, params, reqData):
        r = ResponseData()
        r.key = "config"
        r.setData(json.dumps(self.seen, sort_keys=True).encode())
        res = Response()
        res.list = [r]
        return res
