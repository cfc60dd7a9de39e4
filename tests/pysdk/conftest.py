"""A real kernel on a free loopback port for the pysdk tests that serve a project, in a
private EASLAB_HOME (tests/session_kernel.py)."""

from __future__ import annotations

from tests import session_kernel

easlab_home = session_kernel.easlab_home
kernel = session_kernel.kernel
in_kernel_home = session_kernel.in_kernel_home
