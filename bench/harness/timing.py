"""Measured runs: each command runs under measure.py, in a process of its own."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

from harness.environment import MEASURE_SCRIPT, BenchmarkError, Toolchain

LOG_TAIL_LINES = 40


@dataclass(frozen=True)
class Measurement:
    """Wall time, CPU time and peak memory of one finished command."""

    wall_seconds: float
    cpu_seconds: float
    max_child_rss_mib: float
    peak_tree_rss_mib: float
    load_average_1min: float
    log: Path


def log_tail(log: Path, lines: int = LOG_TAIL_LINES) -> str:
    """Return the last lines of a log file, or a note when it cannot be read."""
    try:
        text = log.read_text(encoding="utf-8", errors="replace")
    except OSError as error:
        return f"(log {log} cannot be read: {error})"
    return "\n".join(text.splitlines()[-lines:])


def run_measured(toolchain: Toolchain, command: list[str], environment: dict[str, str], log: Path, cwd: Path) -> Measurement:
    """Run command under measure.py and return its measurements.

    Raises BenchmarkError with the log's last lines when the command exits with a
    non-zero status, so a failed run never yields a number.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    result_path = log.with_suffix(".measure.json")
    wrapper = [str(toolchain.python), str(MEASURE_SCRIPT), "--log", str(log), "--output", str(result_path), "--", *command]
    completed = subprocess.run(wrapper, env=environment, cwd=cwd, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise BenchmarkError(f"measure.py failed with exit status {completed.returncode}:\n{completed.stderr.strip()}")

    result = json.loads(result_path.read_text())
    if result["returncode"] != 0:
        raise BenchmarkError(
            f"{Path(command[0]).name} exited with status {result['returncode']}; last lines of {log}:\n{log_tail(log)}"
        )
    return Measurement(
        wall_seconds=result["wall_seconds"],
        cpu_seconds=result["user_seconds"] + result["system_seconds"],
        max_child_rss_mib=result["max_child_rss_kib"] / 1024,
        peak_tree_rss_mib=result["peak_tree_rss_kib"] / 1024,
        load_average_1min=result["load_average_1min"],
        log=log,
    )
