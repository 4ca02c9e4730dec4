"""Run ansible-lint on the repository with the production profile set in .ansible-lint."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from collection_path import ROOT, collections_dir

LINT_TIMEOUT_SECONDS = 900


def test_ansible_lint_passes_production_profile():
    venv_bin = Path(sys.executable).parent
    environment = {
        **os.environ,
        # ansible-lint resolves certfleet.mtls.* names through this path.
        "ANSIBLE_COLLECTIONS_PATH": str(collections_dir()),
        # ansible-lint warns when the directory of its interpreter is not on PATH.
        "PATH": os.pathsep.join([str(venv_bin), os.environ.get("PATH", os.defpath)]),
        "NO_COLOR": "1",
    }

    # .ansible-lint sets the profile and offline mode.
    result = subprocess.run(
        [str(venv_bin / "ansible-lint"), "--nocolor", "-f", "pep8"],
        check=False,
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=LINT_TIMEOUT_SECONDS,
    )

    assert result.returncode == 0, f"ansible-lint failed:\n{result.stdout}"
    assert "Profile 'production' was required, and it passed" in result.stdout, result.stdout
