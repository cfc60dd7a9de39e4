"""``seldon_core.env_utils`` as component modules import it (easlab's implementation)."""

from easlab.seldon.utils import (
    ENV_MODEL_IMAGE,
    ENV_MODEL_NAME,
    NONIMPLEMENTED_IMAGE_MSG,
    NONIMPLEMENTED_MSG,
    get_image_name,
    get_model_name,
)

__all__ = [
    "ENV_MODEL_IMAGE",
    "ENV_MODEL_NAME",
    "NONIMPLEMENTED_IMAGE_MSG",
    "NONIMPLEMENTED_MSG",
    "get_image_name",
    "get_model_name",
]
