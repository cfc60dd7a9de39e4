"""The notebook layer: ``%%eas`` magics, the debug widget, load tests and plots.

Nothing here is imported by ``import easlab``; each public name resolves lazily
(see ``easlab/__init__.py``) so matplotlib, ipywidgets and pandas load only
when a notebook uses them.
"""
