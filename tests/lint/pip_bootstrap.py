"""Bootstrap pip into an empty virtual environment for ansible-test, without get-pip.py.

ansible-test makes each sanity test's virtual environment without pip, then runs a
get-pip script that it downloads from a host outside the package registries, unless
the script is already in its cache (``~/.ansible/test/cache/get_pip_<version>.py``).
This file takes that place in the cache: it installs the pip wheel that Python's own
ensurepip carries, then the packages ansible-test requests (the pinned pip release
among them) from the package index that pip is configured for.
"""

from __future__ import annotations

import subprocess
import sys

# get-pip.py options that plain pip install does not know.
GET_PIP_ONLY_OPTIONS = ("--no-setuptools", "--no-wheel")


def main() -> None:
    arguments = [argument for argument in sys.argv[1:] if argument not in GET_PIP_ONLY_OPTIONS]
    subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"], stdout=subprocess.DEVNULL)
    subprocess.check_call([sys.executable, "-m", "pip", "install", "--quiet", *arguments])


if __name__ == "__main__":
    main()
