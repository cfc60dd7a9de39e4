"""``easlab.debug()``: the debug widget for a service, of the kind it is.

An aiges service gets the form of its webgate schema, a Seldon service the form
of its /metadata, any other the generic widget (widget.py).
"""

from __future__ import annotations

from typing import Any

from easlab.notebook.widget import DebugSession, DebugWidget

__all__ = ["debug"]


def debug(
    service_or_endpoint: Any,
    token: str | None = None,
    namespace: dict[str, Any] | None = None,
) -> DebugWidget:
    """The interactive debug widget for a service.

    ``service_or_endpoint``: a ``Service``, a service name on the local kernel,
    or a prediction URL (then give ``token``). ``namespace`` offers arrays to
    fill inputs from (default: the notebook's variables).

    >>> easlab.debug(svc)   # doctest: +SKIP
    """
    if namespace is None:
        from IPython import get_ipython

        shell = get_ipython()
        namespace = shell.user_ns if shell is not None else {}
    from easlab.notebook._target import resolve
    from easlab.notebook.aiges_debug import AigesDebugSession, fetch_schema

    target = resolve(service_or_endpoint, token)
    schema = fetch_schema(target)  # an aiges service answers its webgate schema on GET
    if schema is not None:
        from easlab.notebook.aiges_widget import AigesDebugWidget

        return AigesDebugWidget(AigesDebugSession(target, schema))  # type: ignore[return-value]
    from easlab.notebook.seldon_debug import is_seldon_target, seldon_widget  # registers it

    if is_seldon_target(target):  # "format": "seldon": a form from its /metadata
        return seldon_widget(target, namespace=namespace)
    return DebugWidget(DebugSession(service_or_endpoint, token=token, namespace=namespace))
