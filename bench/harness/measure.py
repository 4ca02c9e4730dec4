"""Run one command and measure it: wall time, CPU time and peak memory.

    python measure.py --log LOG --output RESULT.json -- COMMAND [ARGUMENT ...]

The command's standard output and error go to LOG. RESULT.json receives the
exit status and the measurements:

- ``wall_seconds``: time from start to exit (time.perf_counter).
- ``user_seconds``, ``system_seconds``: resource.getrusage(RUSAGE_CHILDREN)
  after the run minus before it. Only processes that have exited and were
  waited for are counted, which covers Ansible's workers and module processes.
- ``max_child_rss_kib``: ru_maxrss of RUSAGE_CHILDREN, the peak RSS of the
  largest single process in the tree. It is a maximum over this process's
  lifetime, which is why each measured command gets its own measure.py.
- ``load_average_1min``: the machine's 1-minute load average when the command exits,
  to show how much other work competed for the CPUs.
- ``peak_tree_rss_kib``: the largest sum of the RSS of the command and all its
  descendants, sampled from /proc every SAMPLE_INTERVAL_SECONDS. Pages shared
  between processes count once per process, and a process that lives shorter
  than one interval can be missed.

This file uses only the standard library, so it runs with any Python 3.9 or newer.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

SAMPLE_INTERVAL_SECONDS = 0.1
PAGE_SIZE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024


def parent_pids() -> dict[int, int]:
    """Map every running process id to its parent's id, read from /proc/<pid>/stat."""
    parents = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as stat_file:
                stat = stat_file.read()
        except OSError:
            continue  # the process exited between scandir and open
        # The command name in brackets may contain spaces and brackets, so the
        # fields are counted from the last closing bracket: state, then ppid.
        fields = stat[stat.rfind(b")") + 2:].split()
        parents[int(entry.name)] = int(fields[1])
    return parents


def tree_pids(root: int) -> list[int]:
    """Return root and the ids of all its running descendants."""
    children: dict[int, list[int]] = {}
    for pid, parent in parent_pids().items():
        children.setdefault(parent, []).append(pid)
    found = [root]
    index = 0
    while index < len(found):
        found.extend(children.get(found[index], []))
        index += 1
    return found


def resident_kib(pid: int) -> int:
    """Return the resident set size of one process in KiB, or 0 when it has exited."""
    try:
        with open(f"/proc/{pid}/statm", "rb") as statm:
            return int(statm.read().split()[1]) * PAGE_SIZE_KIB
    except (OSError, IndexError):
        return 0


class TreeSampler(threading.Thread):
    """Samples the summed RSS of a process tree until stopped, and keeps the peak."""

    def __init__(self, root: int) -> None:
        super().__init__(daemon=True)
        self.root = root
        self.peak_kib = 0
        self.samples = 0
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            total = sum(resident_kib(pid) for pid in tree_pids(self.root))
            self.peak_kib = max(self.peak_kib, total)
            self.samples += 1
            self.stopped.wait(SAMPLE_INTERVAL_SECONDS)


def measure(command: list[str], log_path: Path) -> dict:
    """Run command with its output in log_path and return the measurements."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        sampler = TreeSampler(process.pid)
        sampler.start()
        returncode = process.wait()
        wall_seconds = time.perf_counter() - started
        sampler.stopped.set()
        sampler.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "command": command,
        "returncode": returncode,
        "wall_seconds": wall_seconds,
        "user_seconds": after.ru_utime - before.ru_utime,
        "system_seconds": after.ru_stime - before.ru_stime,
        "max_child_rss_kib": after.ru_maxrss,
        "peak_tree_rss_kib": sampler.peak_kib,
        "rss_samples": sampler.samples,
        "load_average_1min": os.getloadavg()[0],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run a command and measure its wall time, CPU time and peak memory.")
    parser.add_argument("--log", type=Path, required=True, help="file that receives the command's output")
    parser.add_argument("--output", type=Path, required=True, help="JSON file that receives the measurements")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the command, after --")
    arguments = parser.parse_args(argv)
    command = arguments.command[1:] if arguments.command[:1] == ["--"] else arguments.command
    if not command:
        parser.error("no command given; pass it after --")

    result = measure(command, arguments.log)
    arguments.output.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
