# ruff: noqa
# Answers a response that is valid or broken in one way, chosen by the `kind` parameter.
from aiges.sdk import WrapperBase, StringParamField, StringBodyField, ImageBodyField
from aiges.dto import Response, ResponseData
from aiges.core.types import *

from record import record

KINDS = [
    "ok",
    "str_data",
    "len_mismatch",
    "bad_status",
    "undeclared_key",
    "wrong_type",
    "dup_keys",
    "empty_list",
    "not_response",
    "list_of_str",
    "list_none",
    "assign_bytes",
    "append",
]


class UserRequest(object):
    kind = StringParamField(key="kind", enums=KINDS, value="ok")
    input1 = StringBodyField(key="text", value=b"x")


class UserResponse(object):
    accept1 = StringBodyField(key="out")
    accept2 = ImageBodyField(key="pic")


class Wrapper(WrapperBase):
    serviceId = "bad"
    version = "v1"
    requestCls = UserRequest()
    responseCls = UserResponse()

    def wrapperInit(self, config):
        record("init", config=config)
        return 0

    def wrapperOnceExec(self, params, reqData):
        record("exec", params=params, reqData=reqData)
        kind = params["kind"]
        r = ResponseData()
        r.key = "out"
        r.setData(b"fine")
        res = Response()
        res.list = [r]
        if kind == "str_data":
            r.setData("text, not bytes")
        elif kind == "len_mismatch":
            r._len = 99  # the SDK's storage, and easlab's
        elif kind == "bad_status":
            r.status = DataBegin
        elif kind == "undeclared_key":
            r.key = "nope"
        elif kind == "wrong_type":
            r.setDataType(DataImage)
        elif kind == "dup_keys":
            res.list = [r, r]
        elif kind == "empty_list":
            res.list = []
        elif kind == "not_response":
            return {"out": b"fine"}
        elif kind == "list_of_str":
            res.list = ["fine"]
        elif kind == "list_none":
            res.list = None
        elif kind == "assign_bytes":
            r.data = b"assigned"  # the guide's style: read-only in aiges 0.16.0
            r.len = 8
        elif kind == "append":
            res = Response()
            res.list.append(r)  # after the blank ResponseData that Response() holds
        return res

    def wrapperError(self, ret):
        return ""
