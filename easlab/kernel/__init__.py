"""The local serving kernel: an EAS-compatible model server (SPEC §1, §5, §6).

Import the parts you need (``easlab.kernel.server.serve_forever``,
``easlab.client.local.LocalKernel``); this package imports nothing heavy so
that instance processes start fast.
"""

from __future__ import annotations
