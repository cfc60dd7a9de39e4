"""allspark: the module PAI-EAS Python processors import, provided by easlab.

An ``app.py`` written for EAS (``import allspark``; ``class P(allspark.BaseProcessor)``)
runs unchanged in easlab's kernel, and ``python app.py`` serves it standalone.
"""

from __future__ import annotations

from easlab.allspark import BaseProcessor

__all__ = ["BaseProcessor"]
