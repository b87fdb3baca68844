"""The import contract: one-way imports between the packages and no import cycles inside one.

Layers, top to bottom: web -> worker -> translator. web may import worker and translator, worker
may import translator; translator imports neither worker nor web, and worker never imports web
(the contract is `[tool.importlinter]` in pyproject.toml, which `lint-imports` checks as well).
Inside each package no modules import each other in a circle (e.g. translator.cli <->
translator.evaluate). Every import statement counts, those inside functions (lazy imports) and
under `if TYPE_CHECKING:` included: grimp, the import graph import-linter is built on, reads
them from the source without importing anything.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from pathlib import Path

import grimp
import pytest
from importlinter import api as importlinter_api
from importlinter.application import output as importlinter_output
from importlinter.application import use_cases as importlinter_use_cases

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = ROOT / "pyproject.toml"


def import_graph(*packages: str) -> grimp.ImportGraph:
    """The graph of the imports within `packages` (found on sys.path); nothing is cached."""
    return grimp.build_graph(*packages, cache_dir=None)


def describe_chain(graph: grimp.ImportGraph, chain: Sequence[str]) -> str:
    """`a -> b -> c (a l.3: from b import x; b l.7: import c)`: the chain, then where each of its
    imports is (the first line, when a module imports the next one on several)."""
    where = []
    for importer, imported in zip(chain, chain[1:]):
        details = graph.get_import_details(importer=importer, imported=imported)
        if details:
            where.append(f"{importer} l.{details[0]['line_number']}: "
                         f"{details[0]['line_contents'].strip()}")
    return " -> ".join(chain) + (f" ({'; '.join(where)})" if where else "")


def upward_imports(graph: grimp.ImportGraph, layers: Sequence[str]) -> list[str]:
    """Every shortest chain of imports from a lower layer up to a higher one, described.

    `layers` are top-level packages from the highest to the lowest; a layer may import any
    layer below it, directly or not, and none above.
    """
    problems = []
    for i, higher in enumerate(layers):
        for lower in layers[i + 1:]:
            chains = graph.find_shortest_chains(importer=lower, imported=higher, as_packages=True)
            problems += [f"{lower} must not import {higher}: {describe_chain(graph, chain)}"
                         for chain in sorted(chains)]
    return problems


def import_cycles(graph: grimp.ImportGraph, package: str) -> list[tuple[str, ...]]:
    """One cycle `(a, b, ..., a)` for each group of modules of `package` that import each other
    in a circle (a strongly connected component of its import graph), shortest first."""
    modules = {package} | set(graph.find_descendants(package))
    edges = {m: sorted(graph.find_modules_directly_imported_by(m) & modules - {m})
             for m in sorted(modules)}
    cycles = []
    for component in _strongly_connected(edges):
        if len(component) > 1:
            start = min(component)
            cycles.append(_shortest_cycle(edges, start, component))
    return sorted(cycles, key=lambda c: (len(c), c))


def _strongly_connected(edges: dict[str, list[str]]) -> list[set[str]]:
    """Tarjan's algorithm, iterative (no recursion limit on deep chains)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components = []
    for root in edges:
        if root in index:
            continue
        work = [(root, iter(edges[root]))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, successors = work[-1]
            for succ in successors:
                if succ not in index:
                    index[succ] = low[succ] = len(index)
                    stack.append(succ)
                    on_stack.add(succ)
                    work.append((succ, iter(edges[succ])))
                    break
                if succ in on_stack:
                    low[node] = min(low[node], index[succ])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.add(member)
                        if member == node:
                            break
                    components.append(component)
    return components


def _shortest_cycle(edges: dict[str, list[str]], start: str, within: set[str]) -> tuple[str, ...]:
    """The shortest path start -> ... -> start through `within` (breadth-first)."""
    parent: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for succ in edges[node]:
            if succ not in within:
                continue
            if succ == start:
                path = [node]
                while path[-1] != start:
                    path.append(parent[path[-1]])
                return (*reversed(path), start)
            if succ not in parent:
                parent[succ] = node
                queue.append(succ)
    raise AssertionError(f"{start} is on no cycle")  # unreachable for an SCC of 2+ modules


def configured_layers() -> list[str]:
    """The `layers` contract of pyproject.toml's [tool.importlinter], highest layer first."""
    config = importlinter_api.read_configuration(str(PYPROJECT))
    (layers,) = [c["layers"] for c in config["contracts_options"] if c["type"] == "layers"]
    return [layer.strip() for layer in layers]


# ----------------------------------------------------------------------------- this project
PACKAGES = ("translator", "worker", "web")


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return import_graph(*PACKAGES)


def test_the_layers_are_web_worker_translator():
    assert configured_layers() == ["web", "worker", "translator"]


def test_no_upward_imports(graph):
    problems = upward_imports(graph, configured_layers())
    assert not problems, "imports against the layers web -> worker -> translator:\n" + \
        "\n".join(problems)


@pytest.mark.parametrize("package", PACKAGES)
def test_no_import_cycles_within_a_package(graph, package):
    cycles = import_cycles(graph, package)
    assert not cycles, f"import cycles in {package}:\n" + \
        "\n".join(describe_chain(graph, cycle) for cycle in cycles)


def test_the_import_linter_contracts_are_kept():
    """What `lint-imports` reports on pyproject.toml's contracts (the same layers, and no
    cycles between sibling modules), so the configuration stays valid and kept."""
    with importlinter_output.console.capture() as captured:
        kept = importlinter_use_cases.lint_imports(config_filename=str(PYPROJECT),
                                                   cache_dir=None, no_logo=True)
    assert kept, captured.get()


# ----------------------------------------------------------------------------- the checker
def write_package(root: Path, name: str, modules: dict[str, str]) -> None:
    (root / name).mkdir()
    (root / name / "__init__.py").write_text(modules.pop("__init__", ""))
    for module, source in modules.items():
        (root / name / f"{module}.py").write_text(source)


@pytest.fixture
def synthetic(tmp_path, monkeypatch):
    """Packages written under tmp_path: `contract_low` (with a cycle a -> b -> c -> a closed by
    an import inside a function, and an upward lazy import), `contract_high` above it, and the
    clean pair `clean_low` / `clean_high` (downward imports only, no cycles)."""
    write_package(tmp_path, "contract_low", {
        "a": "from . import b\n",
        "b": "from contract_low.c import f\n",
        "c": "def f():\n    from contract_low import a\n    return a\n",
        "d": "from . import a, e\n",  # d imports into the cycle but is not on it
        "e": "def g():\n    import contract_high.x\n    return contract_high.x\n",
        "pair1": "import contract_low.pair2\n",
        "pair2": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                 "    from contract_low import pair1\n",
    })
    write_package(tmp_path, "contract_high", {"x": "import contract_low.d\n"})
    write_package(tmp_path, "clean_low", {"__init__": "from .a import f\n",
                                          "a": "from . import b\ndef f(): return b\n",
                                          "b": "X = 1\n"})
    write_package(tmp_path, "clean_high", {"x": "from clean_low import f\n",
                                           "y": "def g():\n    import clean_low.b\n"})
    monkeypatch.syspath_prepend(str(tmp_path))
    return import_graph("contract_low", "contract_high", "clean_low", "clean_high")


def test_checker_finds_cycles_with_lazy_and_type_checking_imports(synthetic):
    assert import_cycles(synthetic, "contract_low") == [
        ("contract_low.pair1", "contract_low.pair2", "contract_low.pair1"),
        ("contract_low.a", "contract_low.b", "contract_low.c", "contract_low.a"),
    ]
    message = describe_chain(synthetic, ("contract_low.c", "contract_low.a"))
    assert message == ("contract_low.c -> contract_low.a "
                       "(contract_low.c l.2: from contract_low import a)")


def test_checker_finds_upward_imports_with_their_chain(synthetic):
    problems = upward_imports(synthetic, ["contract_high", "contract_low"])
    assert problems == ["contract_low must not import contract_high: contract_low.e -> "
                        "contract_high.x (contract_low.e l.2: import contract_high.x)"]


def test_checker_passes_a_clean_pair(synthetic):
    assert import_cycles(synthetic, "clean_low") == []
    assert import_cycles(synthetic, "clean_high") == []
    assert upward_imports(synthetic, ["clean_high", "clean_low"]) == []
    assert upward_imports(synthetic, ["clean_low", "clean_high"]) == [
        "clean_high must not import clean_low: clean_high.x -> clean_low "
        "(clean_high.x l.1: from clean_low import f)",
        "clean_high must not import clean_low: clean_high.y -> clean_low.b "
        "(clean_high.y l.2: import clean_low.b)",
    ]
