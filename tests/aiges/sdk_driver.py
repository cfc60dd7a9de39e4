"""Run inside .venv-aiges (the real aiges 0.16.0): ``python sdk_driver.py FOLDER schema|run|serve OUT [PARAMS_JSON]``.

schema: writes the SDK's ``Wrapper().schema()`` text to OUT.
run: sets the declared test values of the params given, runs ``Wrapper().run()``
and writes ``{"verified": bool}`` to OUT (the SDK only logs its verdict).
serve: calls the wrapper through the SDK's loader service (``aiges.serve``'s
``WrapperServiceServicer``, what the platform's loader talks gRPC to) with a
``Request`` whose ``params`` map holds PARAMS_JSON (strings, as the webgate
makes them) and the declared test inputs; writes ``{"ret", "answers", "exec_ret"}``
to OUT (init's ret, the outputs sent back, the ret wrapperOnceExec answered itself).
session: a session through the same service: wrapperCreate with the params of
PARAMS_JSON and their ``sid`` as the request's sid and tag (as aiges's Go side
fills CreateRequest: widget/adapter_python.go, grpc/shared/grpc.go), wrapperWrite
of the declared test inputs, wrapperDestroy; writes ``{"handle", "err", "ret"}``.
"""

import io
import json
import logging
import os
import sys

folder, mode, out = sys.argv[1], sys.argv[2], sys.argv[3]
params = json.loads(sys.argv[4]) if len(sys.argv) > 4 else {}
os.chdir(folder)
sys.path.insert(0, folder)

import wrapper  # noqa: E402

w = wrapper.Wrapper()
if mode == "schema":
    with open(out, "w") as f:
        f.write(w.schema())
    sys.exit(0)
if mode == "serve":
    import queue

    from aiges.aiges_inner import aiges_inner_pb2 as pb
    from aiges.sdk import type_map
    from aiges.serve import WrapperServiceServicer

    answers: queue.Queue = queue.Queue()
    service = WrapperServiceServicer(answers)
    ret = service.wrapperInit(pb.InitRequest(config={}), None).ret
    fields, _ = w._parse_inputs()
    nodes = [
        pb.RequestData(
            key=k, data=v, len=len(v), type=type_map.get(fields[k]["dataType"]), status=3
        )
        for k, v in w.inputs_test_values.items()
    ]
    direct = service.wrapperOnceExec(pb.Request(params=params, list=nodes), None)
    got = [] if answers.empty() else [d.data.decode() for d in answers.get().list]
    with open(out, "w") as f:
        json.dump({"ret": ret, "answers": got, "exec_ret": direct.ret}, f)
    sys.exit(0)
if mode == "session":
    from aiges.aiges_inner import aiges_inner_pb2 as pb
    from aiges.sdk import type_map
    from aiges.serve import WrapperServiceServicer

    service = WrapperServiceServicer(None)
    service.wrapperInit(pb.InitRequest(config={}), None)
    sid = params.get("sid", "")
    made = service.wrapperCreate(pb.CreateRequest(params=params, sid=sid, tag=sid), None)
    fields, _ = w._parse_inputs()
    nodes = [
        pb.RequestData(
            key=k, data=v, len=len(v), type=type_map.get(fields[k]["dataType"]), status=3
        )
        for k, v in w.inputs_test_values.items()
    ]
    written = pb.WriteMessage(req=pb.Request(list=nodes), handle=made.handle, sid=sid)
    ret = service.wrapperWrite(written, None).ret
    service.wrapperDestroy(pb.Handle(handle=made.handle), None)
    with open(out, "w") as f:
        json.dump({"handle": made.handle, "err": made.err_code, "ret": ret}, f)
    sys.exit(0)
for field in vars(type(wrapper.Wrapper.requestCls)).values():
    if getattr(field, "key", None) in params:
        field.value = params[field.key]
buffer = io.StringIO()
logging.getLogger().addHandler(logging.StreamHandler(buffer))
w.run()
with open(out, "w") as f:
    json.dump({"verified": "has been verified" in buffer.getvalue(), "log": buffer.getvalue()}, f)
