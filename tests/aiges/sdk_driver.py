"""Run inside .venv-aiges (the real aiges 0.16.0): ``python sdk_driver.py FOLDER schema|run OUT [PARAMS_JSON]``.

schema: writes the SDK's ``Wrapper().schema()`` text to OUT.
run: sets the declared test values of the params given, runs ``Wrapper().run()``
and writes ``{"verified": bool}`` to OUT (the SDK only logs its verdict).
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
for field in vars(type(wrapper.Wrapper.requestCls)).values():
    if getattr(field, "key", None) in params:
        field.value = params[field.key]
buffer = io.StringIO()
logging.getLogger().addHandler(logging.StreamHandler(buffer))
w.run()
with open(out, "w") as f:
    json.dump({"verified": "has been verified" in buffer.getvalue(), "log": buffer.getvalue()}, f)
