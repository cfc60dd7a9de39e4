"""``python -m easlab.kernel [--host H] [--port P] [--state-dir D] [--max-body N]``: run a kernel.

The admin token comes from ``$EASLAB_ADMIN_TOKEN`` (preferred: a command line
is visible to every user of the machine) or ``--admin-token``; without
either, a loopback kernel makes one up and records it in its runtime file.

The HTTP limits are the flags of ``HttpLimits`` (``--header-timeout``,
``--max-header-size`` ...), the same as ``easlab serve``'s.
"""

from __future__ import annotations

import argparse
import sys


def add_serve_arguments(parser: argparse.ArgumentParser, token: bool = True) -> None:
    """Every setting of a kernel: ``easlab serve`` and ``python -m easlab.kernel`` share them.

    ``token=False`` when the parser already has ``--admin-token`` (the CLI's global
    options, where it also names the token of the kernel to talk to).
    """
    from easlab.kernel import idle
    from easlab.kernel.guard import add_security_arguments
    from easlab.kernel.limits import add_arguments as add_limit_arguments
    from easlab.kernel.server import DEFAULT_MAX_BODY

    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    parser.add_argument("--port", type=int, default=8080, help="0 picks a free port")
    parser.add_argument(
        "--state-dir",
        default=None,
        help="logs, model cache and services (default $EASLAB_HOME/state)",
    )
    parser.add_argument(
        "--max-body",
        type=int,
        default=DEFAULT_MAX_BODY,
        metavar="BYTES",
        help="largest request body accepted (413 above)",
    )
    parser.add_argument(
        "--fresh",
        action="store_true",
        help="start empty: forget the services (and queue contents) an earlier kernel had here",
    )
    add_security_arguments(parser, token=token)
    add_limit_arguments(parser)
    idle.add_arguments(parser)


def serve_from_args(args: argparse.Namespace) -> int:
    """Run a kernel with the settings ``add_serve_arguments`` parsed, until it stops."""
    from easlab.kernel.limits import HttpLimits
    from easlab.kernel.server import serve_forever

    serve_forever(
        args.host,
        args.port,
        args.state_dir,
        args.max_body,
        admin_token=args.admin_token,
        allow_hosts=tuple(args.allow_host or ()),
        allow_origins=tuple(args.allow_origin or ()),
        limits=HttpLimits.from_args(args),
        idle_timeout=args.idle_timeout,
        exit_with=args.exit_with,
        fresh=args.fresh,
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m easlab.kernel", description=__doc__)
    add_serve_arguments(parser)
    return serve_from_args(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
