"""Generated protobuf modules (``make proto``); never edited by hand.

protoc writes an import between .proto files as an absolute import
(``import tf_predict_pb2``), which would not find a module inside this
package. The EasyRec and TorchRec messages import the TF and PyTorch ones, so
the two modules they depend on are also registered under their bare names,
and the generated files load unchanged.
"""

from __future__ import annotations

import sys

from easlab.wire.proto import tf_predict_pb2, torch_predict_pb2

for _module in (tf_predict_pb2, torch_predict_pb2):
    _bare = _module.__name__.rsplit(".", 1)[1]
    if sys.modules.setdefault(_bare, _module) is not _module:
        raise ImportError(
            f"a module named {_bare!r} is already imported ({sys.modules[_bare]!r}); "
            "easlab's EasyRec/TorchRec messages need that name for easlab.wire.proto"
        )
