# ruff: noqa
# Star imports only, as ported wrappers sometimes do: the SDK's modules have no
# __all__, so `from aiges.sdk import *` brings ResponseData, DataListCls, DataText,
# Once and json too. The config is set on the instance in __init__: the SDK's
# run() passes self.config to wrapperInit.
from aiges.sdk import *
from aiges.utils.log import *

from record import record


class UserRequest(object):
    p1 = StringParamField(key="mode", enums=["plain", "json"], value="json")
    input1 = StringBodyField(key="text", value=b"star")


class UserResponse(object):
    accept1 = StringBodyField(key="out")


class Wrapper(WrapperBase):
    serviceId = "star"
    version = "v1"
    requestCls = UserRequest()
    responseCls = UserResponse()
    config = {"from": "class"}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.config = {"from": "instance"}

    def wrapperInit(self, config):
        record("init", config=config)
        logging.getLogger("star").info("init %s", config)
        return 0

    def wrapperOnceExec(self, params, reqData: DataListCls) -> Response:
        record("exec", params=params, reqData=reqData)
        node = reqData.get("text")
        r = ResponseData(key="out", type=DataText, status=Once)
        r.setData(json.dumps({"mode": params["mode"], "text": node.data.decode()}).encode())
        res = Response()
        res.list = [r]
        return res

    def wrapperError(self, ret):
        return ""
