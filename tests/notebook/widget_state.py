"""What a widget puts in the page: the synced state of it and of every widget under it.

Every widget created has a model in the page (and, with "save widget state", in
the saved notebook), shown or not: a token there is a token in page source.
"""

from __future__ import annotations

from typing import Any

from ipywidgets import Widget


def widgets_under(root: Widget) -> list[Widget]:
    """``root`` and every widget reachable from it: through synced traits (a box's
    children, a Tab's pages, layouts) and Python attributes (a field swapped out of
    ``children`` still has its model in the page)."""
    seen: dict[int, Widget] = {}
    todo: list[Any] = [root]
    while todo:
        item = todo.pop()
        if isinstance(item, Widget):
            if id(item) not in seen:
                seen[id(item)] = item
                todo += [getattr(item, key) for key in item.keys]
                todo += list(vars(item).values())
        elif isinstance(item, (list, tuple, set, frozenset)):
            todo += list(item)
        elif isinstance(item, dict):
            todo += list(item.values())
    return list(seen.values())


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, (bytes, bytearray, memoryview)):
        return [bytes(value).decode("latin-1")]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, (list, tuple)):
        return [s for v in value for s in _strings(v)]
    return []


def where_in_page(root: Widget, secret: str) -> list[str]:
    """``Class.trait`` of each synced value under ``root`` that holds ``secret``."""
    assert secret
    return [
        f"{type(widget).__name__}.{key}"
        for widget in widgets_under(root)
        for key, value in widget.get_state().items()
        if any(secret in s for s in _strings(value))
    ]
