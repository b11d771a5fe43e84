"""functions/requirements.txt is what `make requirements` generates from uv.lock, byte for byte.

Cloud Functions installs the deployed dependencies from that file, so a stale copy would ship
versions the tests never ran against.
"""

from __future__ import annotations

import difflib
import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = ROOT / "functions" / "requirements.txt"
# The same flags as the Makefile's `requirements` target.
EXPORT = ["export", "--frozen", "--no-dev", "--no-hashes", "--no-header", "--no-emit-project"]


def uv() -> str | None:
    bootstrapped = ROOT / ".tools" / "bin" / "uv"
    return str(bootstrapped) if bootstrapped.exists() else shutil.which("uv")


def test_requirements_txt_is_generated_from_the_lock_file(tmp_path: Path) -> None:
    command = uv()
    assert command is not None, "uv is not installed: run `make bootstrap`"
    generated = tmp_path / "requirements.txt"
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never", "UV_OFFLINE": "1"}
    result = subprocess.run([command, *EXPORT, "-o", str(generated)], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr

    expected = generated.read_text()
    actual = REQUIREMENTS.read_text()
    diff = "".join(difflib.unified_diff(actual.splitlines(keepends=True), expected.splitlines(keepends=True),
                                        "functions/requirements.txt", "uv export (uv.lock)"))
    assert actual == expected, f"functions/requirements.txt is stale: run `make requirements`\n{diff}"
