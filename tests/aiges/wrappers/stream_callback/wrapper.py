# ruff: noqa
# A session wrapper in the loader's asynchronous mode: no wrapperRead; a worker thread
# sends the results through callback(response, sid), the last with status DataEnd.
import threading

from aiges.sdk import WrapperBase, StringBodyField
from aiges.dto import Response, ResponseData, SessionCreateResponse, callback
from aiges.core.types import *


class UserRequest(object):
    text = StringBodyField(key="text", value=b"abc")


class UserResponse(object):
    out = StringBodyField(key="out")


def piece(data, status):
    l = ResponseData()
    l.key = "out"
    l.status = status
    l.setData(data)
    r = Response()
    r.list = [l]
    return r


class Wrapper(WrapperBase):
    serviceId = "stcb"
    version = "v1"
    requestCls = UserRequest()
    responseCls = UserResponse()

    def wrapperInit(self, config):
        self.sids = {}
        return 0

    def wrapperCreate(self, params, sid):
        s = SessionCreateResponse()
        s.handle = "cb-" + sid
        self.sids[s.handle] = sid
        return s

    def wrapperWrite(self, handle, req):
        sid = self.sids[handle]
        text = req.get("text").data
        if text == b"silent":
            return 0  # never calls back

        def work():
            callback(piece(text[::-1], DataContinue), sid)
            callback(piece(b"!", DataEnd), sid)

        threading.Thread(target=work).start()
        return 0

    def wrapperDestroy(self, handle):
        self.sids.pop(handle)
        return 0
