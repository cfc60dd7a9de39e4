# ruff: noqa: F401, UP035  (the names are what the module is for: its star import, typing names included)
"""``seldon_core.utils`` as component modules import it (easlab's implementation).

seldon-core's module has no ``__all__``, so ``from seldon_core.utils import *`` gives a
component every public name it holds, the modules and typing names it imports included
(``np``, ``json``, ``os``, ``Dict``, ...): components use ``np`` without importing it
themselves. This module holds the same public names, and no ``__all__`` either.
tensorflow's ``tf`` and ``TensorProto`` (there only when tensorflow is installed) are
left out: importing tensorflow with every component would cost seconds.
"""

import base64
import json
import logging
import os
import sys
from typing import Dict, Iterable, List, Optional, Tuple, Union

import numpy as np
from google.protobuf import any_pb2, json_format
from google.protobuf.json_format import MessageToDict, ParseDict
from google.protobuf.struct_pb2 import ListValue

from easlab.seldon.utils import (
    ENV_MODEL_IMAGE,
    ENV_MODEL_NAME,
    NONIMPLEMENTED_IMAGE_MSG,
    NONIMPLEMENTED_MSG,
    array_to_grpc_datadef,
    array_to_list_value,
    array_to_rest_datadef,
    construct_response,
    construct_response_json,
    extract_feedback_request_parts,
    extract_request_parts,
    extract_request_parts_json,
    feedback_to_json,
    get_data_from_proto,
    get_image_name,
    get_meta_from_proto,
    get_model_name,
    get_request_path,
    getenv,
    getenv_as_bool,
    grpc_datadef_to_array,
    json_to_feedback,
    json_to_seldon_message,
    json_to_seldon_messages,
    json_to_seldon_model_metadata,
    seldon_message_to_json,
    seldon_messages_to_json,
    setup_tracing,
)
from seldon_core.flask_utils import SeldonMicroserviceException
from seldon_core.proto import prediction_pb2
from seldon_core.user_model import (
    SeldonComponent,
    client_class_names,
    client_custom_tags,
    client_feature_names,
)

logger = logging.getLogger("seldon_core.utils")
