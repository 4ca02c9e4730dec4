"""Shared pytest setup: make the working tree importable and runnable as ``certfleet.mtls``."""

from __future__ import annotations

import os
import sys

from collection_path import ROOT, collections_dir

COLLECTIONS_DIR = collections_dir()

# Unit tests import ansible_collections.certfleet.mtls.plugins.module_utils directly,
# and ansible-playbook started by the integration tests finds the collection here.
sys.path.insert(0, str(COLLECTIONS_DIR))
os.environ["ANSIBLE_COLLECTIONS_PATH"] = str(COLLECTIONS_DIR)
os.environ.setdefault("ANSIBLE_NOCOLOR", "1")
os.environ.setdefault("ANSIBLE_RETRY_FILES_ENABLED", "0")
os.environ["CONTAINERS_CONF"] = str(ROOT / "testbed" / "containers.conf")
