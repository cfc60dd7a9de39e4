"""A SeldonDeployment graph node's ``methods`` (seldon-core's PredictiveUnitMethod):
the calls seldon-core's executor makes of a node besides those its type implies (its
``hasMethod``); a node of type ``UNKNOWN_TYPE`` makes only those. spec.py checks a
graph's against them, graph.py runs them.
"""

from __future__ import annotations

#: every method a node may name, in seldon-core's order
NODE_METHODS = ("TRANSFORM_INPUT", "TRANSFORM_OUTPUT", "ROUTE", "AGGREGATE", "SEND_FEEDBACK")
#: the type of a node that makes only the calls its ``methods`` name
UNKNOWN_TYPE = "UNKNOWN_TYPE"
