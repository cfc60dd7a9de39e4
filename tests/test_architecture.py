"""The package's shape: no import cycles (runtime imports), HTTP only in the client.

The layers themselves are import-linter contracts in pyproject.toml
(``lint-imports``, run by ``make test``); this adds what a layers contract
cannot say: no two modules import each other, directly or through others.
"""

from __future__ import annotations

import grimp


def test_no_module_imports_itself_through_others():
    graph = grimp.build_graph("easlab", exclude_type_checking_imports=True)
    cycles = []
    for module in sorted(graph.modules):
        for imported in graph.find_modules_directly_imported_by(module):
            if graph.chain_exists(importer=imported, imported=module):
                chain = graph.find_shortest_chain(importer=imported, imported=module)
                cycles.append(f"{module} -> {' -> '.join(chain or ())}")
    assert cycles == [], "import cycles:\n" + "\n".join(cycles)
