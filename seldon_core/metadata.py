"""``seldon_core.metadata`` (easlab's implementation)."""

from easlab.seldon.metadata import SeldonInvalidMetadataError, validate_model_metadata

__all__ = ["SeldonInvalidMetadataError", "validate_model_metadata"]
