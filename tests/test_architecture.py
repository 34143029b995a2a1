"""Architecture rules that fail the build, checked on the source text with ``ast``.

1. ``alchemy_resolvers`` is the Hydra-free core: none of its modules imports ``hydra``
   (nor ``hydra_plugins``, which is Hydra's). Only ``hydra_plugins`` adapts the core to
   Hydra, and may import anything.
2. The modules of ``alchemy_resolvers`` import each other without circles.
3. ``hydra_plugins`` is a namespace package: it has no ``__init__.py``.

Every ``import``/``from ... import`` counts wherever it stands in a file: at the top,
inside a function, under ``if TYPE_CHECKING:``; so do ``importlib.import_module("...")``
and ``__import__("...")`` with a literal name.

Edges of the import graph, for a module M of the package:

- ``import P.a.b`` -> ``P.a.b`` (the longest prefix of it that is a module of P);
- ``from P.a import b`` -> ``P.a.b`` when that is a module, else ``P.a``;
- ``from . import b`` / ``from .a import b``: resolved against M's package first;
- a package ``__init__`` that re-exports from its submodules has edges to them, and a
  submodule that imports its package (``from P import x`` with ``x`` not a module) has an
  edge to ``P``'s ``__init__``: so ``P/__init__ -> P/a -> P/__init__`` is a circle;
- no implicit edge from a submodule to its parent package: Python runs the parents'
  ``__init__`` first, but that is not a dependency the code chose.

A strongly connected component of more than one module, or a module importing itself, is
reported with the modules in it and the file:line of every import that closes it.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Set, Tuple

import pytest

REPO = Path(__file__).resolve().parents[1]
CORE = "alchemy_resolvers"
FORBIDDEN_IN_CORE = ("hydra", "hydra_plugins")


# ------------------------------------------------------------------------ the checker


@dataclass(frozen=True)
class ImportStmt:
    """One imported name as written: ``name`` is absolute (relative imports resolved)."""

    file: str  # path relative to the root, with forward slashes
    line: int
    name: str  # e.g. "hydra.core" or "alchemy_resolvers.tune.Param2Tune"
    base: str  # the part that must be a module: the `from` part, or `name` for `import`
    text: str  # the statement, for messages

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


def package_modules(root: Path, package: str = CORE) -> Dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` under ``root/package``."""
    modules: Dict[str, Path] = {}
    for path in sorted((root / package).rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _own_package(module: str, path: Path) -> List[str]:
    """The package that ``from . import`` is relative to, as parts."""
    parts = module.split(".")
    return parts if path.name == "__init__.py" else parts[:-1]


def _literal_import_call(node: ast.Call) -> Optional[str]:
    func = node.func
    called = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
    if called in ("import_module", "__import__") and node.args:
        first = node.args[0]
        if isinstance(first, ast.Constant) and isinstance(first.value, str) and not first.value.startswith("."):
            return first.value
    return None


def imports_in(root: Path, module: str, path: Path) -> Iterator[ImportStmt]:
    """Every name ``path`` imports, at any depth of the file."""
    source = path.read_text(encoding="utf-8")
    tree = ast.parse(source, filename=str(path))
    rel = path.relative_to(root).as_posix()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            text = ast.get_source_segment(source, node) or f"import {', '.join(a.name for a in node.names)}"
            for alias in node.names:
                yield ImportStmt(rel, node.lineno, alias.name, alias.name, text)
        elif isinstance(node, ast.ImportFrom):
            text = ast.get_source_segment(source, node) or f"from {'.' * node.level}{node.module or ''} import ..."
            if node.level:
                pkg = _own_package(module, path)
                up = node.level - 1
                if up > len(pkg) - 1:
                    raise AssertionError(f"{rel}:{node.lineno}: relative import beyond the top package: {text}")
                base_parts = pkg[: len(pkg) - up] + (node.module.split(".") if node.module else [])
            else:
                base_parts = (node.module or "").split(".")
            base = ".".join(base_parts)
            for alias in node.names:
                name = base if alias.name == "*" else f"{base}.{alias.name}"
                yield ImportStmt(rel, node.lineno, name, base, text)
        elif isinstance(node, ast.Call):
            name = _literal_import_call(node)
            if name:
                text = ast.get_source_segment(source, node) or f"import_module({name!r})"
                yield ImportStmt(rel, node.lineno, name, name, text)


def _is_under(name: str, top: str) -> bool:
    return name == top or name.startswith(top + ".")


def find_forbidden_imports(
    root: Path, package: str = CORE, forbidden: Sequence[str] = FORBIDDEN_IN_CORE
) -> List[str]:
    """``file:line: statement`` for every import of a ``forbidden`` top-level package
    (or one of its submodules) anywhere in ``root/package``."""
    problems = []
    for module, path in package_modules(root, package).items():
        for stmt in imports_in(root, module, path):
            if any(_is_under(stmt.name, top) for top in forbidden):
                problems.append(f"{stmt.where}: {stmt.text}")
    return sorted(set(problems), key=_file_line_key)


def _file_line_key(message: str) -> Tuple[str, int]:
    file, line, _ = message.split(":", 2)
    return file, int(line)


def _target(stmt: ImportStmt, modules: Set[str], package: str) -> Optional[str]:
    """The module of ``package`` that ``stmt`` makes an edge to, if any: ``stmt.name`` if
    it is a module, else the longest prefix of it that is one, but never shorter than the
    ``from`` part (``from P.a import b``: ``P.a.b`` or ``P.a``, never ``P``)."""
    if not _is_under(stmt.name, package):
        return None
    parts = stmt.name.split(".")
    shortest = len(stmt.base.split("."))
    for n in range(len(parts), shortest - 1, -1):
        candidate = ".".join(parts[:n])
        if candidate in modules:
            return candidate
    return None


Graph = Dict[str, Dict[str, List[str]]]  # module -> imported module -> ["file:line", ...]


def import_graph(root: Path, package: str = CORE) -> Graph:
    """The graph of imports among the modules of ``root/package``."""
    modules = package_modules(root, package)
    graph: Graph = {m: {} for m in modules}
    for module, path in modules.items():
        for stmt in imports_in(root, module, path):
            target = _target(stmt, set(modules), package)
            if target is not None:
                graph[module].setdefault(target, [])
                if stmt.where not in graph[module][target]:
                    graph[module][target].append(stmt.where)
    return graph


def strongly_connected_components(graph: Graph) -> List[List[str]]:
    """Tarjan's algorithm, iterative; components and their members in sorted order."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    on_stack: Set[str] = set()
    stack: List[str] = []
    components: List[List[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work: List[Tuple[str, Iterator[str]]] = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, {})))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(sorted(component))
    return sorted(components)


def _a_cycle(graph: Graph, members: List[str]) -> List[str]:
    """A shortest circle through the first member, staying inside the component."""
    inside = set(members)
    start = members[0]
    previous: Dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for child in sorted(graph[node]):
                if child not in inside:
                    continue
                if child == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [start, *reversed(path[:-1]), start] if node != start else [start, start]
                if child not in previous:
                    previous[child] = node
                    following.append(child)
        frontier = following
    raise AssertionError(f"no circle through {start} in {members}")  # pragma: no cover


def find_import_cycles(root: Path, package: str = CORE) -> List[str]:
    """One message per import circle among the modules of ``root/package``: the modules,
    one circle through them, and the file:line of each import inside the circle."""
    graph = import_graph(root, package)
    problems = []
    for members in strongly_connected_components(graph):
        if len(members) == 1 and members[0] not in graph[members[0]]:
            continue
        inside = set(members)
        edges = sorted(
            (
                (where, f"    {where}: {source} -> {target}")
                for source in members
                for target in graph[source]
                if target in inside
                for where in graph[source][target]
            ),
            key=lambda edge: _file_line_key(edge[0] + ":"),
        )
        kind = "imports itself" if len(members) == 1 else f"{len(members)} modules import each other"
        problems.append(
            f"{', '.join(members)}: {kind}; e.g. {' -> '.join(_a_cycle(graph, members))}\n"
            + "\n".join(text for _, text in edges)
        )
    return problems


# ----------------------------------------------------------------- the rules, on the tree


def test_the_core_does_not_import_hydra() -> None:
    problems = find_forbidden_imports(REPO)
    assert not problems, (
        f"{CORE} must not depend on Hydra ({' or '.join(FORBIDDEN_IN_CORE)}); move the Hydra "
        f"part to hydra_plugins. Imports found:\n" + "\n".join(problems)
    )


def test_the_core_has_no_import_cycles() -> None:
    problems = find_import_cycles(REPO)
    assert not problems, f"import circles in {CORE}:\n" + "\n".join(problems)


def test_hydra_plugins_stays_a_namespace_package() -> None:
    """One ``hydra_plugins/__init__.py`` anywhere on the path hides every other plugin."""
    assert not (REPO / "hydra_plugins" / "__init__.py").exists()


def test_the_rules_see_the_whole_core() -> None:
    modules = package_modules(REPO)
    assert CORE in modules and len(modules) >= 5, sorted(modules)


# --------------------------------------------------------- the checker, on made-up trees


def make_tree(root: Path, files: Dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_a_clean_package_passes(tmp_path: Path) -> None:
    root = make_tree(tmp_path, {
        "pkg/__init__.py": "from pkg.a import A\nfrom .sub import helper\n__all__ = ['A']\n",
        "pkg/a.py": "import os\nfrom pkg.b import B\nimport hydra_zen  # another package\n",
        "pkg/b.py": "from . import c\nfrom .hydra import thing  # our own module named hydra\n",
        "pkg/c.py": "import omegaconf\nimport pkg.sub.helper\n",
        "pkg/hydra.py": "thing = 1\n",
        "pkg/sub/__init__.py": "",
        "pkg/sub/helper.py": "from ..hydra import thing\n",
    })
    assert find_forbidden_imports(root, "pkg") == []
    assert find_import_cycles(root, "pkg") == []
    graph = import_graph(root, "pkg")
    assert graph["pkg"] == {"pkg.a": ["pkg/__init__.py:1"], "pkg.sub.helper": ["pkg/__init__.py:2"]}
    assert graph["pkg.a"] == {"pkg.b": ["pkg/a.py:2"]}
    assert graph["pkg.b"] == {"pkg.c": ["pkg/b.py:1"], "pkg.hydra": ["pkg/b.py:2"]}
    assert graph["pkg.c"] == {"pkg.sub.helper": ["pkg/c.py:2"]}  # no implicit edge to pkg.sub
    assert graph["pkg.sub.helper"] == {"pkg.hydra": ["pkg/sub/helper.py:1"]}
    assert graph["pkg.sub"] == {}


def test_hydra_imports_are_found_anywhere_in_a_file(tmp_path: Path) -> None:
    root = make_tree(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/top.py": "import os, hydra\n",
        "pkg/deep/__init__.py": "",
        "pkg/deep/mod.py": (
            "from typing import TYPE_CHECKING\n"
            "if TYPE_CHECKING:\n"
            "    from hydra.types import TaskFunction\n"
            "def f():\n"
            "    from hydra.core.config_store import ConfigStore\n"
            "    return ConfigStore\n"
            "class K:\n"
            "    def g(self):\n"
            "        import importlib\n"
            "        return importlib.import_module('hydra.utils')\n"
        ),
        "pkg/plugin_user.py": "def h():\n    from hydra_plugins.alchemy_launcher import x\n",
        "pkg/fine.py": "import hydra_zen\nfrom .hydra import y\nimport hydrangea\n",
        "pkg/hydra.py": "",
    })
    assert find_forbidden_imports(root, "pkg") == [
        "pkg/deep/mod.py:3: from hydra.types import TaskFunction",
        "pkg/deep/mod.py:5: from hydra.core.config_store import ConfigStore",
        "pkg/deep/mod.py:10: importlib.import_module('hydra.utils')",
        "pkg/plugin_user.py:2: from hydra_plugins.alchemy_launcher import x",
        "pkg/top.py:1: import os, hydra",
    ]


def test_a_circle_through_a_function_local_import_is_found(tmp_path: Path) -> None:
    root = make_tree(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/a.py": "from pkg import b\n",
        "pkg/b.py": "import pkg.c\n",
        "pkg/c.py": "def late():\n    from .a import thing\n    return thing\n",
        "pkg/d.py": "from pkg.a import thing\n",  # leads into the circle, is not in it
    })
    (problem,) = find_import_cycles(root, "pkg")
    assert problem.splitlines() == [
        "pkg.a, pkg.b, pkg.c: 3 modules import each other; e.g. pkg.a -> pkg.b -> pkg.c -> pkg.a",
        "    pkg/a.py:1: pkg.a -> pkg.b",
        "    pkg/b.py:1: pkg.b -> pkg.c",
        "    pkg/c.py:2: pkg.c -> pkg.a",
    ]


def test_init_and_a_submodule_that_imports_it_are_a_circle(tmp_path: Path) -> None:
    root = make_tree(tmp_path, {
        "pkg/__init__.py": "from .a import A\nVERSION = 1\n",
        "pkg/a.py": "from pkg import VERSION\nclass A: ...\n",
    })
    (problem,) = find_import_cycles(root, "pkg")
    assert problem.splitlines()[0] == "pkg, pkg.a: 2 modules import each other; e.g. pkg -> pkg.a -> pkg"
    assert "    pkg/__init__.py:1: pkg -> pkg.a" in problem
    assert "    pkg/a.py:1: pkg.a -> pkg" in problem


def test_reexports_alone_are_no_circle(tmp_path: Path) -> None:
    """``__init__`` importing its submodules, which import each other (not the package):
    Python imports ``pkg`` before ``pkg.a``, but that is no edge."""
    root = make_tree(tmp_path, {
        "pkg/__init__.py": "from pkg.a import A\nfrom pkg.b import B\n",
        "pkg/a.py": "from pkg.b import B\nclass A(B): ...\n",
        "pkg/b.py": "class B: ...\n",
        "pkg/sub/__init__.py": "from . import leaf\n",
        "pkg/sub/leaf.py": "from pkg.sub.other import x\n",
        "pkg/sub/other.py": "x = 1\n",
    })
    assert find_import_cycles(root, "pkg") == []


def test_a_module_importing_itself_is_found(tmp_path: Path) -> None:
    root = make_tree(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/selfish.py": "def f():\n    from pkg.selfish import f as g\n    return g\n",
    })
    assert find_import_cycles(root, "pkg") == [
        "pkg.selfish: imports itself; e.g. pkg.selfish -> pkg.selfish\n"
        "    pkg/selfish.py:2: pkg.selfish -> pkg.selfish"
    ]


@pytest.mark.parametrize(
    ("statement", "target"),
    [
        ("from pkg.sub import leaf", "pkg.sub.leaf"),  # a module
        ("from pkg.sub import NAME", "pkg.sub"),  # a name in pkg/sub/__init__.py
        ("from pkg.sub.leaf import NAME", "pkg.sub.leaf"),
        ("import pkg.sub.leaf", "pkg.sub.leaf"),
        ("import pkg.sub.leaf as L", "pkg.sub.leaf"),
        ("import pkg", "pkg"),
        ("from pkg import *", "pkg"),
        ("from .sub import leaf", "pkg.sub.leaf"),
        ("from .sub.leaf import *", "pkg.sub.leaf"),
        ("from . import sub", "pkg.sub"),
        ("import importlib; importlib.import_module('pkg.sub.leaf')", "pkg.sub.leaf"),
        ("from pkg.missing import x", None),  # no such module: no edge to pkg
        ("import os.path", None),
    ],
)
def test_how_imports_become_edges(tmp_path: Path, statement: str, target: Optional[str]) -> None:
    root = make_tree(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/user.py": statement + "\n",
        "pkg/sub/__init__.py": "NAME = 1\n",
        "pkg/sub/leaf.py": "NAME = 2\n",
    })
    assert list(import_graph(root, "pkg")["pkg.user"]) == ([target] if target else [])


def test_relative_imports_in_a_package_init_resolve_against_that_package(tmp_path: Path) -> None:
    root = make_tree(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/sub/__init__.py": "from .leaf import x\nfrom .. import top\n",
        "pkg/sub/leaf.py": "x = 1\n",
        "pkg/top.py": "",
    })
    assert import_graph(root, "pkg")["pkg.sub"] == {
        "pkg.sub.leaf": ["pkg/sub/__init__.py:1"], "pkg.top": ["pkg/sub/__init__.py:2"],
    }
