"""The package's import graph, counted the strict way: every import of one of our modules, at module level, inside
a function or under ``TYPE_CHECKING``. Prints the cycles (strongly connected groups of modules) and every
in-function import of ours, and exits non-zero when there is a cycle or an in-function import that no contract
declares (the ``ignore_imports`` of ``.importlinter`` / ``.importlinter-parse``: the lazy doors).

Usage: ``python scripts/import_graph.py [--package runtype_provider]`` (run by ``make lint``).
"""

from __future__ import annotations

import argparse
import ast
import configparser
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONTRACT_FILES = (".importlinter", ".importlinter-parse")


@dataclass(frozen=True)
class Import:
    source: str
    target: str
    line: int
    where: str  # "module", "function" or "type-checking"


def module_names(package_dir: Path, package: str) -> dict[str, Path]:
    names = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = list(path.relative_to(package_dir.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _walk(node: ast.AST, where: str) -> Iterator[tuple[ast.AST, str]]:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            yield from _walk(child, "function")
        elif isinstance(child, ast.If) and _is_type_checking(child) and where == "module":
            for inner in child.body:
                yield inner, "type-checking"
                yield from _walk(inner, "type-checking")
            for inner in child.orelse:
                yield inner, where
                yield from _walk(inner, where)
        else:
            yield child, where
            yield from _walk(child, where)


def imports_of(name: str, path: Path, modules: dict[str, Path], package: str) -> list[Import]:
    """The imports of our modules in ``name`` (a ``from package import module`` names that module)."""
    tree = ast.parse(path.read_text(), str(path))
    is_package = path.name == "__init__.py"
    found = []
    for node, where in _walk(tree, "module"):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".") if is_package else name.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        for target in targets:
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target.split(".")[0] == package and target != name:
                found.append(Import(name, target, getattr(node, "lineno", 0), where))
    return found


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    sys.setrecursionlimit(10_000)

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in edges.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return groups


def declared_lazy_imports(root: Path) -> set[tuple[str, str]]:
    """The ``source -> target`` pairs the contracts declare (their ``ignore_imports``)."""
    declared = set()
    for file in CONTRACT_FILES:
        parser = configparser.ConfigParser()
        parser.read(root / file)
        for section in parser.sections():
            for line in parser[section].get("ignore_imports", "").splitlines():
                if "->" in line:
                    source, target = (part.strip() for part in line.split("->"))
                    declared.add((source, target))
    return declared


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--package", default="runtype_provider")
    args = parser.parse_args()
    package_dir = ROOT / args.package
    modules = module_names(package_dir, args.package)
    found = [i for name, path in modules.items() for i in imports_of(name, path, modules, args.package)]
    edges: dict[str, set[str]] = {}
    for item in found:
        edges.setdefault(item.source, set()).add(item.target)
    groups = cycles(edges)
    declared = declared_lazy_imports(ROOT)
    lazy = [i for i in found if i.where == "function"]
    undeclared = [i for i in lazy if (i.source, i.target) not in declared]
    typing_only = sum(i.where == "type-checking" for i in found)
    print(f"{len(modules)} modules, {len(found)} imports of our own modules")
    print(f"  {typing_only} under TYPE_CHECKING, {len(lazy)} inside functions")
    print(f"import cycles (counting every kind of import): {len(groups)}")
    for group in groups:
        print("  cycle: " + " <-> ".join(group))
    print(f"in-function imports of our own modules: {len(lazy)} ({len(lazy) - len(undeclared)} declared)")
    for item in lazy:
        mark = "declared" if item not in undeclared else "NOT DECLARED"
        print(f"  {item.source}:{item.line} -> {item.target} ({mark})")
    return 1 if groups or undeclared else 0


if __name__ == "__main__":
    sys.exit(main())
