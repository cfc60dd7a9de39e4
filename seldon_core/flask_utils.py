"""``seldon_core.flask_utils.SeldonMicroserviceException`` (easlab's implementation)."""

from easlab.seldon.errors import SeldonMicroserviceException

__all__ = ["SeldonMicroserviceException"]
