"""Modules the official package exposes under another name (``OnnxDataHelper``)."""

from __future__ import annotations

from easlab.eas_prediction import onnx_processor_data_helper as OnnxDataHelper  # noqa: N812

__all__ = ["OnnxDataHelper"]
