"""The package's shape, checked by walking imports (route targets loaded by string included).

Layers (imports flow downward only): entry points (``main.py``) -> ``routing`` -> route modules
(``openai_chat.route``, ``model_list``, ``sessions.routes``, ``health``, ``openapi``) -> the
turn (``turn``, ``relay``) and adapters (``upstream``, ``sessions.store``, ``web``, ``images``,
``auth``) -> the pure core (codecs, fold, translation, catalog, transcript, idempotency
decision) -> leaves (``errors``, ``config``). Route modules receive ``services``; they never
import the router.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

from vertexchat.route_table import ROUTES

FUNCTIONS = Path(__file__).resolve().parent.parent / "functions"
PACKAGE = FUNCTIONS / "vertexchat"

# Plain data in, plain data out: no Flask, no Google library, no SDK, no network client.
PURE = (
    "vertexchat.errors", "vertexchat.config", "vertexchat.catalog", "vertexchat.cors", "vertexchat.resilience",
    "vertexchat.fold", "vertexchat.route_table", "vertexchat.caching",
    "vertexchat.openai_chat.schema", "vertexchat.openai_chat.request", "vertexchat.openai_chat.conversation",
    "vertexchat.openai_chat.reply", "vertexchat.openai_chat.chunks",
    "vertexchat.sessions.ids", "vertexchat.sessions.cursors", "vertexchat.sessions.records",
    "vertexchat.sessions.transcript", "vertexchat.sessions.claims", "vertexchat.sessions.atoms_compat",
    "vertexchat.upstream.endpoints", "vertexchat.upstream.sse", "vertexchat.openapi_schemas", "vertexchat.fields",
    "vertexchat.anthropic_messages.request", "vertexchat.anthropic_messages.betas",
    "vertexchat.anthropic_messages.stream", "vertexchat.anthropic_messages.openapi",
    "vertexchat.openai_responses.schema", "vertexchat.openai_responses.items", "vertexchat.openai_responses.request",
    "vertexchat.openai_responses.reply", "vertexchat.openai_responses.events", "vertexchat.openapi_responses",
)
# Only the upstream adapter talks to Vertex: these libraries are imported nowhere else.
UPSTREAM_ONLY = ("anthropic", "httpx", "httpx2", "requests", "google.auth.transport")
# Route modules (the targets of the route table) and the modules under them.
ROUTE_MODULES = sorted({route.target.partition(":")[0] for route in ROUTES})


def module_path(module: str) -> Path:
    if module == "main":
        return FUNCTIONS / "main.py"
    parts = module.split(".")[1:]
    package = PACKAGE.joinpath(*parts)
    return package / "__init__.py" if package.is_dir() else package.with_suffix(".py")


def all_modules() -> list[str]:
    found = ["main"]
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(FUNCTIONS).with_suffix("").parts
        found.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return found


def _runtime_nodes(tree: ast.Module, *, top_level_only: bool) -> Iterator[ast.AST]:
    """Import nodes that run: ``if TYPE_CHECKING:`` blocks are skipped."""
    stack: list[ast.AST] = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif not top_level_only or isinstance(node, ast.If | ast.Try | ast.With):
            stack.extend(ast.iter_child_nodes(node))


@cache
def imports_of(module: str, *, top_level_only: bool = False) -> frozenset[str]:
    """Every module ``module`` imports (``from pkg import mod`` resolved to ``pkg.mod``)."""
    tree = ast.parse(module_path(module).read_text())
    found: set[str] = set()
    for node in _runtime_nodes(tree, top_level_only=top_level_only):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                if candidate.startswith("vertexchat") and module_path(candidate).exists():
                    found.add(candidate)
    if top_level_only:
        return frozenset(found)
    # The router imports the route table's string targets (importlib, on first use): imports too.
    if module == "vertexchat.routing":
        found |= set(ROUTE_MODULES) - {module}
    return frozenset(found)


def local(imports: frozenset[str]) -> set[str]:
    return {name for name in imports if name == "main" or (name.startswith("vertexchat.") and
                                                           module_path(name).exists())}


def test_route_targets_are_followed() -> None:
    assert "importlib.import_module(module_name)" in module_path("vertexchat.routing").read_text()
    assert set(ROUTE_MODULES) - {"vertexchat.routing"} <= local(imports_of("vertexchat.routing"))
    assert "vertexchat.openai_chat.route" in ROUTE_MODULES


def test_there_is_no_import_cycle() -> None:
    graph = {module: local(imports_of(module)) for module in all_modules()}
    state: dict[str, str] = {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for child in sorted(graph.get(module, ())):
            if state.get(child) == "open":
                cycle = [*path[path.index(child):], child] if child in path else [module, child]
                raise AssertionError(f"import cycle: {' -> '.join(cycle)}")
            if child not in state:
                visit(child, [*path, child])
        state[module] = "done"

    for module in graph:
        if module not in state:
            visit(module, [module])


def test_route_modules_never_import_the_router_or_each_other() -> None:
    for module in ROUTE_MODULES:
        assert "vertexchat.routing" not in imports_of(module), module
        if module != "vertexchat.routing":
            assert not local(imports_of(module)) & (set(ROUTE_MODULES) - {module}), module


@pytest.mark.parametrize("module", PURE)
def test_the_pure_core_imports_only_the_stdlib_and_other_pure_modules(module: str) -> None:
    for name in imports_of(module):
        root = name.split(".")[0]
        if root == "vertexchat":
            assert name in PURE or name in ("vertexchat", "vertexchat.sessions", "vertexchat.upstream",
                                            "vertexchat.openai_chat"), f"{module} imports {name}"
        else:
            assert root in sys.stdlib_module_names or root == "__future__", f"{module} imports {name}"


def test_only_the_upstream_adapter_imports_vertex_clients() -> None:
    for module in all_modules():
        if module.startswith("vertexchat.upstream"):
            continue
        for name in imports_of(module):
            assert not any(name == lib or name.startswith(f"{lib}.") for lib in UPSTREAM_ONLY), \
                f"{module} imports {name}"


def test_only_upstream_claude_imports_the_anthropic_sdk() -> None:
    importers = [m for m in all_modules() if any(n.split(".")[0] == "anthropic" for n in imports_of(m))]
    assert importers == ["vertexchat.upstream.claude"]


def loaded_at_import(module: str) -> set[str]:
    """Everything importing ``module`` loads, following local modules' top-level imports."""
    seen: set[str] = set()
    todo = [module]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        if current == "main" or (current.startswith("vertexchat") and module_path(current).exists()):
            todo.extend(imports_of(current, top_level_only=True))
    return seen


HEAVY = {"anthropic", "jwt", "google.cloud.firestore", "vertexchat.upstream.claude", "vertexchat.sessions.store",
         "vertexchat.auth"}


@pytest.mark.parametrize("module", ["main", "vertexchat.routing", "vertexchat.health", "vertexchat.model_list",
                                    "vertexchat.openapi"])
def test_light_paths_load_no_heavy_client_at_import(module: str) -> None:
    assert not loaded_at_import(module) & HEAVY, f"{module} loads {loaded_at_import(module) & HEAVY} at import"


def test_the_anthropic_sdk_stays_off_the_health_models_and_sessions_paths() -> None:
    for module in ("vertexchat.health", "vertexchat.model_list", "vertexchat.sessions.routes",
                   "vertexchat.anthropic_messages.route"):  # the pass-through posts bytes: no SDK needed
        assert "anthropic" not in loaded_at_import(module), module


def test_config_is_the_only_reader_of_the_environment() -> None:
    readers = []
    for module in all_modules():
        source = module_path(module).read_text()
        if "os.environ" in source or "os.getenv" in source:
            readers.append(module)
    # services passes os.environ to config.load() once (config's docstring says so); nothing else looks.
    assert sorted(readers) == ["vertexchat.config", "vertexchat.services"]
    assert "os.environ" not in ast.unparse(ast.parse(module_path("vertexchat.config").read_text()).body[1:])
    assert "config.load(os.environ)" in module_path("vertexchat.services").read_text()
