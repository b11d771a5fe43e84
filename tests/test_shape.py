"""Size limits that keep the package readable, and a test module for every module.

- A module has at most 400 lines, a function at most 60 lines and 6 parameters, unless its
  docstring says why (a line containing ``Long because`` or ``Many parameters because``).
- Every module under ``functions/`` has a test module (``tests/test_<name>.py``, or
  ``tests/test_<package>_<name>.py``), or names the test module that covers it in its
  docstring (``Tested in tests/test_x.py``).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS = ROOT / "functions"
TESTS = ROOT / "tests"
MODULES = sorted(p for p in FUNCTIONS.rglob("*.py") if p.name != "__init__.py")
MAX_MODULE_LINES, MAX_FUNCTION_LINES, MAX_PARAMETERS = 400, 60, 6


def name_of(path: Path) -> str:
    return str(path.relative_to(FUNCTIONS))


@pytest.mark.parametrize("path", MODULES, ids=name_of)
def test_modules_are_small(path: Path) -> None:
    source = path.read_text()
    lines = len(source.splitlines())
    docstring = ast.get_docstring(ast.parse(source)) or ""
    assert lines <= MAX_MODULE_LINES or "Long because" in docstring, f"{name_of(path)} has {lines} lines"


def functions_of(path: Path) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    tree = ast.parse(path.read_text())
    return [node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)]


@pytest.mark.parametrize("path", MODULES, ids=name_of)
def test_functions_are_small(path: Path) -> None:
    for function in functions_of(path):
        docstring = ast.get_docstring(function) or ""
        length = (function.end_lineno or function.lineno) - function.lineno + 1
        assert length <= MAX_FUNCTION_LINES or "Long because" in docstring, \
            f"{name_of(path)}:{function.name} has {length} lines"
        args = function.args
        names = [a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs) if a.arg not in ("self", "cls")]
        assert len(names) <= MAX_PARAMETERS or "Many parameters because" in docstring, \
            f"{name_of(path)}:{function.name} takes {len(names)} parameters"


@pytest.mark.parametrize("path", MODULES, ids=name_of)
def test_every_module_has_a_test_module(path: Path) -> None:
    stem = path.stem
    package = path.parent.name
    candidates = [TESTS / f"test_{stem}.py", TESTS / f"test_{package}_{stem}.py"]
    if any(candidate.exists() for candidate in candidates):
        return
    named = re.findall(r"Tested in (tests/test_\w+\.py)", path.read_text())
    assert named, f"{name_of(path)}: no tests/test_{stem}.py and no 'Tested in tests/test_x.py' in its docstring"
    for test_module in named:
        assert (ROOT / test_module).exists(), f"{name_of(path)} names {test_module}, which does not exist"
