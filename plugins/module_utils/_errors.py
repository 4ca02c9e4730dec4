# Copyright (c) certfleet.mtls contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The error type of certfleet.mtls. Private: not a public API."""

from __future__ import annotations


class CertfleetError(Exception):
    """A failure that a module reports through ``fail_json``.

    The message names the option or file, the offending value and the fix, so the
    module can pass it to the user unchanged.
    """
