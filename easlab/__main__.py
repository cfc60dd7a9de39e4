"""``python -m easlab ...``: the ``easlab`` command line."""

from __future__ import annotations

import sys

from easlab.cli import main

if __name__ == "__main__":
    sys.exit(main())
