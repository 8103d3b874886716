"""The wheel as a user gets it: ``python -m build`` makes a wheel and an sdist with the
templates, ``device.js``, the migrations and ``py.typed``; the wheel, installed into a
clean venv (no system site-packages, no repository on the path), migrates, passes
``check --deploy`` with production-like settings (tests/packaging_site) and logs a user in.

Marker ``packaging`` (``-m packaging`` selects it): it builds in an isolated environment
and pip fetches the dependencies from the package index, so it needs the network. Offline
it skips, unless CI=true."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import venv
import zipfile
from pathlib import Path

import pytest

import byo_sessions

pytestmark = pytest.mark.packaging

ROOT = Path(__file__).resolve().parent.parent
SITE = Path(__file__).resolve().parent / "packaging_site"
PACKAGE_FILES = [
    "byo_sessions/py.typed",
    "byo_sessions/static/byo_sessions/device.js",
    "byo_sessions/templates/admin/byo_sessions/session/change_list.html",
    "byo_sessions/migrations/0001_initial.py",
]


def run(*args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """pip and build keep the caller's HOME (their download caches); the site gets a bare environment."""
    return subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def unavailable(what: str, done: subprocess.CompletedProcess[str]) -> None:
    """A failure that is the network's (no index): skip, or fail under CI=true."""
    reason = f"{what} failed (no network for the package index?):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    # From a copy of the tracked files: setuptools writes build/ and *.egg-info beside the sources.
    source = tmp_path_factory.mktemp("source")
    files = run("git", "ls-files", "-z", cwd=ROOT).stdout.split("\0")
    for name in filter(None, files):
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    for name in ("byo_sessions/py.typed", "LICENSE", "CHANGELOG.md", "MANIFEST.in"):  # new, maybe untracked
        if (ROOT / name).is_file() and not (source / name).exists():
            shutil.copy2(ROOT / name, source / name)
    done = run(sys.executable, "-m", "build", "--outdir", out, source, cwd=source)
    if done.returncode != 0:
        unavailable("python -m build", done)
    return out


def test_wheel_and_sdist_carry_the_package_data(dist: Path) -> None:
    version = byo_sessions.__version__
    wheel = dist / f"byo_sessions-{version}-py3-none-any.whl"
    sdist = dist / f"byo_sessions-{version}.tar.gz"
    names = set(zipfile.ZipFile(wheel).namelist())
    assert set(PACKAGE_FILES) <= names, set(PACKAGE_FILES) - names
    assert f"byo_sessions-{version}.dist-info/licenses/LICENSE" in names
    metadata = zipfile.ZipFile(wheel).read(f"byo_sessions-{version}.dist-info/METADATA").decode()
    assert f"Version: {version}" in metadata and "License-Expression: MIT" in metadata
    assert "Classifier: Framework :: Django :: 5.2" in metadata and "Requires-Python: >=3.12" in metadata
    with tarfile.open(sdist) as archive:
        inside = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    assert set(PACKAGE_FILES) | {"LICENSE", "CHANGELOG.md", "docs/quickstart.md"} <= inside


def test_installed_wheel_migrates_passes_check_deploy_and_logs_in(dist: Path, tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True, system_site_packages=False).create(env_dir)
    python = env_dir / "bin" / "python"
    wheel = next(dist.glob("*.whl"))
    done = run(python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", wheel, cwd=tmp_path)
    if done.returncode != 0:
        unavailable("pip install of the wheel", done)

    site = tmp_path / "site"
    shutil.copytree(SITE, site / "packaging_site", ignore=shutil.ignore_patterns("__pycache__"))
    env = {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": str(site),
        "DJANGO_SETTINGS_MODULE": "packaging_site.settings",
        "BYO_SITE_DIR": str(tmp_path),
    }

    def django_admin(*args: str) -> subprocess.CompletedProcess[str]:
        done = run(python, "-m", "django", *args, cwd=site, env=env)
        assert done.returncode == 0, done.stdout + done.stderr
        return done

    assert "Applying byo_sessions.0001_initial... OK" in django_admin("migrate", "--noinput").stdout
    django_admin("makemigrations", "--check", "--dry-run", "byo_sessions")  # the wheel's migrations are complete
    checked = django_admin("check", "--deploy", "--fail-level", "WARNING")
    assert "System check identified no issues" in checked.stdout, checked.stdout + checked.stderr

    done = run(python, site / "packaging_site" / "login.py", cwd=site, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["package"].startswith(str(env_dir)), seen  # the wheel, not the repository
    assert seen["version"] == byo_sessions.__version__
    assert seen["user"] == "admin" and seen["session_in_db"] is True
    assert seen["cookie_secure"] and seen["cookie_httponly"] and seen["token_prefix"] == "byo_s_"
    assert seen["admin_status"] == 200 and seen["admin_template"].startswith(str(env_dir)), seen
    assert seen["device_js"] and seen["device_js"].startswith(str(env_dir)), seen
