"""The pinned npm packages the test command installs (``scripts/npm_package.sh``), for the
tests that drive them with Node: found, or a skip with the reason on a developer machine and
a failure with CI=true (so CI never hides a missing Node.js or package)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _missing(package: str, version: str, folder: Path, script: str) -> str | None:
    if shutil.which("node") is None:
        return f"node is not on PATH (apt-get install -y nodejs npm, then bash scripts/{script})"
    manifest = folder / "node_modules" / package / "package.json"
    if not manifest.is_file():
        return f"{package} is not installed in {folder.name}/ (run bash scripts/{script})"
    found = json.loads(manifest.read_text())["version"]
    if found != version:
        return f"{folder.name}/ holds {package} {found}, not {version} (run bash scripts/{script})"
    return None


def installed_npm_package(package: str, version: str, folder: Path, script: str) -> Path:
    """``folder`` once ``package`` at ``version`` is installed there."""
    missing = _missing(package, version, folder, script)
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{missing}; CI=true, so this test may not skip")
        pytest.skip(missing)
    return folder
