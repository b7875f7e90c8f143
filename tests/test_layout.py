"""The package's layout: its import graph has no cycle, counting imports inside
functions too, and no module is over 400 lines."""

import ast
from pathlib import Path

import latentdim

PACKAGE = Path(latentdim.__file__).parent


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, modules: set[str]) -> set[str]:
    """The package's modules that ``path`` imports (``from latentdim.cli import train``
    imports the submodule latentdim.cli.train)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("latentdim"):
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub in modules else node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("latentdim")}
    return found


def test_the_import_graph_has_no_cycle():
    paths = list(PACKAGE.rglob("*.py"))
    modules = {module_name(p) for p in paths}
    graph = {module_name(p): imports(p, modules) for p in paths}
    # the package's __init__ re-exports lazily; a module importing "latentdim" means it
    graph["latentdim"] = set()
    state: dict[str, str] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for dep in sorted(graph.get(node, ())):
            assert state.get(dep) != "open", "import cycle: " + " -> ".join([*path, dep])
            if dep not in state:
                visit(dep, [*path, dep])
        state[node] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])


MAX_LINES = 400


def test_no_module_is_over_400_lines():
    """A module that outgrows this is split by concept (the layout in docs/index.md)."""
    sizes = {module_name(p): len(p.read_text().splitlines()) for p in PACKAGE.rglob("*.py")}
    long = {name: lines for name, lines in sizes.items() if lines > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines: {long}"
