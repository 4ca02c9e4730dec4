"""Run a playbook against localhost and return the per-task results.

The playbook runs with the ``ansible.posix.json`` stdout callback, which ships in
the ``ansible`` 14 bundle (ansible-core ships no JSON stdout callback of its own).
The callback prints one JSON document when the play ends, so the results of failed
and ignored tasks are there too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from collection_path import collections_dir

JSON_CALLBACK = "ansible.posix.json"
PLAYBOOK_TIMEOUT_SECONDS = 300


@dataclass(frozen=True)
class PlaybookRun:
    """The outcome of one ``ansible-playbook`` run."""

    returncode: int
    stdout: str
    stderr: str
    # (task name, result for localhost) in the order the tasks ran. Empty unless the
    # JSON callback was used and the play got as far as printing its results.
    results: list[tuple[str, dict]] = field(default_factory=list)

    def result(self, task_name: str) -> dict:
        """Return the result of the only task called ``task_name``."""
        matches = [result for name, result in self.results if name == task_name]
        if len(matches) != 1:
            raise AssertionError(
                f"expected one result for task {task_name!r}, found {len(matches)}. "
                f"Return code {self.returncode}\nstdout:\n{self.stdout[-4000:]}\nstderr:\n{self.stderr[-4000:]}"
            )
        return matches[0]

    def ok(self, task_name: str) -> dict:
        """Return the result of the task called ``task_name``, raising AssertionError with its message when it failed."""
        result = self.result(task_name)
        if result.get("failed"):
            raise AssertionError(f"task {task_name!r} failed: {result.get('msg')}")
        return result


def run_playbook(
    tasks: list[dict],
    directory: Path,
    *,
    check: bool = False,
    diff: bool = False,
    verbosity: int = 0,
    callback: str = JSON_CALLBACK,
) -> PlaybookRun:
    """Write ``tasks`` as a one-play playbook into ``directory``, run it on localhost and return the outcome.

    The playbook is written as JSON, which YAML parsers read unchanged. The modules run
    with the local connection and this interpreter, so they see the packages of the
    virtual environment that runs the tests.
    """
    directory.mkdir(parents=True, exist_ok=True)
    play = [{"name": "certfleet integration", "hosts": "localhost", "gather_facts": False, "tasks": tasks}]
    handle, playbook_name = tempfile.mkstemp(dir=directory, prefix="playbook-", suffix=".yml")
    with os.fdopen(handle, "w", encoding="utf-8") as stream:
        json.dump(play, stream, indent=2)

    command = [
        str(Path(sys.executable).with_name("ansible-playbook")),
        "--inventory", "localhost,",
        "--connection", "local",
        "--extra-vars", json.dumps({"ansible_python_interpreter": sys.executable}),
        playbook_name,
    ]
    if check:
        command.append("--check")
    if diff:
        command.append("--diff")
    if verbosity:
        command.append("-" + "v" * verbosity)

    environment = dict(os.environ)
    environment.update({
        "ANSIBLE_COLLECTIONS_PATH": str(collections_dir()),
        "ANSIBLE_STDOUT_CALLBACK": callback,
        # One line of JSON, so the document can be found among the -v output around it.
        "ANSIBLE_JSON_INDENT": "0",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_RETRY_FILES_ENABLED": "0",
    })
    completed = subprocess.run(
        command, cwd=directory, env=environment, capture_output=True, text=True,
        timeout=PLAYBOOK_TIMEOUT_SECONDS, check=False,
    )
    results = parse_results(completed.stdout) if callback == JSON_CALLBACK else []
    return PlaybookRun(completed.returncode, completed.stdout, completed.stderr, results)


def parse_results(stdout: str) -> list[tuple[str, dict]]:
    """Extract ``(task name, localhost result)`` pairs from the JSON callback's document in ``stdout``."""
    for line in reversed(stdout.splitlines()):
        if not line.startswith("{"):
            continue
        try:
            document = json.loads(line)
        except ValueError:
            continue
        if "plays" not in document:
            continue
        return [
            (task["task"]["name"], task["hosts"]["localhost"])
            for play in document["plays"]
            for task in play["tasks"]
            if "localhost" in task["hosts"]
        ]
    return []
