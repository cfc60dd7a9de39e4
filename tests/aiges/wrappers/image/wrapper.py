# ruff: noqa
# An image wrapper: reverses the image bytes, answers an image and a text.
import os

from aiges.sdk import WrapperBase, ImageBodyField, StringBodyField, IntegerParamField
from aiges.dto import Response, ResponseData
from aiges.core.types import DataImage, DataText, Once

from record import record

HERE = os.path.dirname(os.path.abspath(__file__))


class UserRequest(object):
    size = IntegerParamField(key="size", minimum=1, maximum=4096, value=64, required=True)
    img = ImageBodyField(key="img", path=os.path.join(HERE, "test.png"), encoding="png")


class UserResponse(object):
    accept1 = ImageBodyField(key="out_img", encoding="png")
    accept2 = StringBodyField(key="info")


class Wrapper(WrapperBase):
    serviceId = "imgsvc"
    version = "v1"
    requestCls = UserRequest()
    responseCls = UserResponse()

    def wrapperInit(self, config):
        record("init", config=config)
        return 0

    def wrapperOnceExec(self, params, reqData):
        record("exec", params=params, reqData=reqData)
        data = reqData.list[0].data
        a = ResponseData(key="out_img", type=DataImage, status=Once)
        a.setData(bytes(reversed(data)))
        b = ResponseData(key="info", type=DataText, status=Once)
        b.setData(f"size={params['size']} bytes={len(data)}".encode())
        res = Response()
        res.list = [a, b]
        return res

    def wrapperError(self, ret):
        return ""
