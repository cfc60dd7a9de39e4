# ruff: noqa
# A session wrapper in the SDK stream template's style: a pool of session slots
# (self.session, aiges.stream), one worker thread per slot answering via callback.
from aiges.sdk import WrapperBase, StringBodyField
from aiges.dto import Response, ResponseData, SessionCreateResponse, DataListCls, callback
from aiges.stream import StreamHandleThread
from aiges.core.types import *


class UserRequest(object):
    text = StringBodyField(key="text", value=b"abc")


class UserResponse(object):
    out = StringBodyField(key="out")


class UpperThread(StreamHandleThread):
    def run(self):
        while True:
            req = self.in_q.get()
            node = req.list[0]
            l = ResponseData()
            l.key = "out"
            l.status = DataEnd if node.status in (DataEnd, DataOnce) else DataContinue
            l.setData(node.data.upper())
            r = Response()
            r.list = [l]
            self.session_thread.callback_fn(r, self.session_thread.sid)


class Wrapper(WrapperBase):
    serviceId = "pool"
    version = "v1"
    requestCls = UserRequest()
    responseCls = UserResponse()

    def wrapperInit(self, config):
        self.session.init_wrapper_config(config)
        self.session.init_handle_pool(THREAD_MODE, 2, UpperThread)
        return 0

    def wrapperError(self, ret):
        return "no free session slot" if ret == 100 else ""

    def wrapperCreate(self, params, sid, persId=0, usrTag=""):
        s = SessionCreateResponse()
        handle = self.session.get_idle_handle()
        if not handle:
            s.error_code = 100
            return s
        slot = self.session.get_session(handle)
        slot.setup_sid(sid)
        slot.setup_params(params)
        slot.setup_callback_fn(callback)
        s.handle = handle
        return s

    def wrapperWrite(self, handle, req, sid):
        self.session.get_session(handle).in_q.put(req)
        return 0

    def wrapperDestroy(self, handle):
        self.session.push_back(handle)
        return 0
