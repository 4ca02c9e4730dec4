#!/usr/bin/env bash
# Create or update a virtual environment, by default the controller's in .venv.
#
#   scripts/bootstrap-venv.sh [REQUIREMENTS_FILE [VENV_DIRECTORY]]
#
# ansible-core 2.21 needs Python 3.12 or newer on the controller. The first of these
# that runs is used: pyenv's 3.13 and 3.12, then python3.13, python3.12 and python3
# from PATH. The install is skipped when the requirements did not change.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
requirements=${1:-"$root/requirements/controller.txt"}
venv=${2:-"$root/.venv"}

find_python() {
    local candidate
    for candidate in "PYENV_VERSION=3.13.0 python3.13" "PYENV_VERSION=3.12.1 python3.12" python3.13 python3.12 python3; do
        # A candidate is an environment assignment and a command, so it is split on purpose.
        # shellcheck disable=SC2086
        if env $candidate -c 'import sys, venv; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
            echo "$candidate"
            return 0
        fi
    done
    return 1
}

if [ ! -x "$venv/bin/python" ]; then
    if ! python=$(find_python); then
        echo "error: Python 3.12 or newer with the venv module was not found; ansible-core 2.21 needs it on the" >&2
        echo "controller. Install it (Debian 13 or Ubuntu 24.04: apt install python3 python3-venv; older releases:" >&2
        echo "pyenv install 3.13) and run this command again." >&2
        exit 1
    fi
    echo "Creating ${venv#"$root"/} with $python"
    # shellcheck disable=SC2086 # split on purpose, like the candidates in find_python
    env $python -m venv "$venv"
fi

stamp="$venv/.requirements-$(cat "$root"/requirements/*.txt | sha256sum | cut -c1-16)-$(basename "$requirements")"
if [ ! -e "$stamp" ]; then
    echo "Installing Python packages from ${requirements#"$root"/}"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"
    rm -f "$venv"/.requirements-*
    touch "$stamp"
fi
