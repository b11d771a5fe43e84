"""The package's shape, checked by walking imports: a pure core, one upstream module, lazy heavy imports.

Layers (imports flow downward only): entry points (main.py) -> routing (handlers) -> route
modules (chat, models, sessions_api, health) -> adapters (vertex, sessions, storage, gcp_auth,
web, relay, images, auth) -> pure core -> leaves (errors, config).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "functions" / "vertexchat"

# Plain data in, plain data out: no Flask, no Google libraries, no network clients, no threads of I/O.
PURE = ("errors", "config", "openai_schema", "translate", "streaming", "catalog", "session_ids", "transcript",
        "cursors", "session_records", "message_bodies", "resilience", "cors", "atoms_compat")
# What only the leaves may be imported by the pure core.
ALLOWED_FOREIGN: set[str] = set()


def imports_of(module: str) -> set[str]:
    tree = ast.parse((PACKAGE / f"{module}.py").read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def top_level_imports_of(module: str) -> set[str]:
    """Imports executed when the module loads (not those deferred inside functions)."""
    tree = ast.parse((PACKAGE / f"{module}.py").read_text())
    found: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


@pytest.mark.parametrize("module", PURE)
def test_the_pure_core_imports_only_the_stdlib_and_other_pure_modules(module: str) -> None:
    for name in imports_of(module):
        root = name.split(".")[0]
        if root == "vertexchat":
            assert name.removeprefix("vertexchat.") in PURE or name == "vertexchat", f"{module} imports {name}"
        else:
            assert root in sys.stdlib_module_names or root == "__future__" or name in ALLOWED_FOREIGN, \
                f"{module} imports {name}"


def test_only_vertex_py_imports_the_anthropic_sdk() -> None:
    importers = [p.stem for p in PACKAGE.glob("*.py")
                 if any(n.split(".")[0] == "anthropic" for n in imports_of(p.stem))]
    assert importers == ["vertex"]


# sessions_api is not here: the sessions routes need Firestore anyway, and routing imports it on first use.
@pytest.mark.parametrize("module", ["handlers", "web", "health", "models", "main"])
def test_light_paths_load_no_heavy_client_at_import(module: str) -> None:
    path = PACKAGE.parent / "main.py" if module == "main" else PACKAGE / f"{module}.py"
    tree = ast.parse(path.read_text())
    loaded = {alias.name for node in tree.body if isinstance(node, ast.Import) for alias in node.names}
    loaded |= {node.module or "" for node in tree.body if isinstance(node, ast.ImportFrom)}
    heavy = {"anthropic", "vertexchat.vertex", "jwt", "google.cloud.firestore", "vertexchat.sessions",
             "vertexchat.auth"}
    assert not loaded & heavy, f"{module} loads {loaded & heavy} at import time"


def test_config_is_the_only_reader_of_the_environment() -> None:
    readers = []
    for path in PACKAGE.glob("*.py"):
        source = path.read_text()
        if "os.environ" in source or "os.getenv" in source:
            readers.append(path.stem)
    # handlers passes os.environ to config.load() once (config's docstring says so); nothing else looks.
    assert sorted(readers) == ["config", "handlers"]
    assert "os.environ" not in ast.unparse(ast.parse((PACKAGE / "config.py").read_text()).body[1:])
    assert "config.load(os.environ)" in (PACKAGE / "handlers.py").read_text()
