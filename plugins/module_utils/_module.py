# Copyright (c) certfleet.mtls contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Glue shared by the modules: import checks, file modes and error reporting. Private: not a public API."""

from __future__ import annotations

import traceback

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.certfleet.mtls.plugins.module_utils._errors import CertfleetError

MINIMUM_CRYPTOGRAPHY = "38.0"

try:
    import cryptography

    CRYPTOGRAPHY_VERSION = cryptography.__version__
    CRYPTOGRAPHY_IMPORT_ERROR = None
except ImportError:
    CRYPTOGRAPHY_VERSION = None
    CRYPTOGRAPHY_IMPORT_ERROR = traceback.format_exc()


def require_cryptography(module) -> None:
    """Fail the module when cryptography is missing or older than the supported minimum."""
    if CRYPTOGRAPHY_VERSION is None:
        module.fail_json(
            msg=missing_required_lib(f"cryptography >= {MINIMUM_CRYPTOGRAPHY}"),
            exception=CRYPTOGRAPHY_IMPORT_ERROR,
        )
    major = int(CRYPTOGRAPHY_VERSION.split(".", maxsplit=1)[0])
    if major < int(MINIMUM_CRYPTOGRAPHY.split(".", maxsplit=1)[0]):
        module.fail_json(
            msg=f"cryptography {CRYPTOGRAPHY_VERSION} is too old on this host; "
            f"install cryptography {MINIMUM_CRYPTOGRAPHY} or newer (python3-cryptography on Debian 12 qualifies)"
        )


def parse_mode(value, option: str) -> int:
    """Parse a file mode given as an octal string such as ``'0600'`` or as an integer."""
    if isinstance(value, int):
        return value
    text = str(value).strip()
    try:
        mode = int(text, 8)
    except ValueError:
        raise CertfleetError(f"{option}={value!r} is not an octal file mode such as '0600'") from None
    if not 0 <= mode <= 0o7777:
        raise CertfleetError(f"{option}={value!r} is not an octal file mode such as '0600'")
    return mode


def run_module(module, work) -> None:
    """Run ``work(module)``, which returns a result dict, and turn CertfleetError into ``fail_json``."""
    require_cryptography(module)
    try:
        result = work(module)
    except CertfleetError as error:
        module.fail_json(msg=str(error))
    module.exit_json(**result)
