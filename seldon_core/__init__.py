"""seldon_core: the modules a Seldon Core Python component imports, provided by easlab.

``from seldon_core.user_model import SeldonComponent, SeldonResponse`` and
``seldon_core.metrics`` resolve here inside easlab, whether or not seldon-core is
installed (its pins clash with easlab's); the serving is easlab's (easlab/seldon/).
"""

__version__ = "1.18.2"
