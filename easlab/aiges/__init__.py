"""aiges (iFlytek) wrappers in easlab: the ``aiges`` import surface and its tools.

``easlab.aiges.sdk``/``dto``/``types``/``log`` implement what a ``wrapper.py``
imports (made importable as ``aiges.*`` by ``shim.install()`` only where easlab
runs a wrapper); ``schema`` builds the webgate schema, ``webgate`` checks and
decodes requests, ``runner`` runs a wrapper once, ``scaffold`` creates a project.
The kernel side is easlab/kernel/processors/aiges.py.
"""
