"""The results: ratios, the printed tables and the JSON file under bench/results/."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from harness.scenarios import (
    CERTFLEET,
    COMMUNITY_CRYPTO,
    FLOOR,
    FLOOR_CHECK,
    FLOOR_ISSUANCE,
    ISSUANCE,
    RERUN,
    ROTATION,
    SCENARIO_LABELS,
    Row,
)
from harness.signing import SigningRow

# The floor run that each certfleet scenario is compared with: the module executions
# per host that the scenario cannot go below.
FLOOR_OF = {ISSUANCE: FLOOR_ISSUANCE, RERUN: FLOOR_CHECK, ROTATION: FLOOR_ISSUANCE}
SCENARIO_ORDER = list(SCENARIO_LABELS)


def _find(rows: list[Row], scenario: str, tool: str, hosts: int) -> Row | None:
    return next((row for row in rows if (row.scenario, row.tool, row.hosts) == (scenario, tool, hosts)), None)


def ratios(row: Row, rows: list[Row]) -> dict[str, float]:
    """Return the ratios that apply to a row: community.crypto / certfleet, or certfleet / floor.

    Keys are ``crypto_over_certfleet_wall`` and ``..._cpu`` on community.crypto rows,
    ``certfleet_over_floor_wall`` and ``..._cpu`` on certfleet rows; missing partners give no key.
    """
    if row.tool == COMMUNITY_CRYPTO:
        partner = _find(rows, row.scenario, CERTFLEET, row.hosts)
        prefix = "crypto_over_certfleet"
    elif row.tool == CERTFLEET and row.scenario in FLOOR_OF:
        partner = _find(rows, FLOOR_OF[row.scenario], FLOOR, row.hosts)
        prefix = "certfleet_over_floor"
    else:
        return {}
    if partner is None:
        return {}
    return {
        f"{prefix}_wall": row.measurement.wall_seconds / partner.measurement.wall_seconds,
        f"{prefix}_cpu": row.measurement.cpu_seconds / partner.measurement.cpu_seconds,
    }


def median_rows(rows: list[Row]) -> list[Row]:
    """Keep, for each scenario, tool and fleet size, the round with the median wall time (the lower one of an even count)."""
    groups: dict[tuple[str, str, int], list[Row]] = {}
    for row in rows:
        groups.setdefault((row.scenario, row.tool, row.hosts), []).append(row)
    medians = []
    for group in groups.values():
        ordered = sorted(group, key=lambda row: row.measurement.wall_seconds)
        medians.append(ordered[(len(ordered) - 1) // 2])
    return medians


def _sorted(rows: list[Row]) -> list[Row]:
    tool_order = [CERTFLEET, COMMUNITY_CRYPTO, FLOOR]
    return sorted(rows, key=lambda row: (row.hosts, SCENARIO_ORDER.index(row.scenario), tool_order.index(row.tool)))


def _format_table(header: list[str], lines: list[list[str]]) -> str:
    widths = [max(len(cell) for cell in column) for column in zip(header, *lines)]
    rule = "  ".join("-" * width for width in widths)
    formatted = ["  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip() for line in [header, *lines]]
    return "\n".join([formatted[0], rule, *formatted[1:]])


def _ratio_cell(values: dict[str, float], prefix: str) -> str:
    if f"{prefix}_wall" not in values:
        return ""
    return f"{values[prefix + '_wall']:.2f} / {values[prefix + '_cpu']:.2f}"


def fleet_table(rows: list[Row]) -> str:
    """Format the fleet scenarios as a text table."""
    header = [
        "scenario", "tool", "N", "wall s", "CPU s", "max proc RSS MiB", "peak tree RSS MiB", "changed", "load",
        "cc/certfleet wall / CPU", "certfleet/floor wall / CPU",
    ]
    lines = []
    for row in _sorted(rows):
        values = ratios(row, rows)
        measurement = row.measurement
        lines.append([
            SCENARIO_LABELS[row.scenario], row.tool, str(row.hosts),
            f"{measurement.wall_seconds:.1f}", f"{measurement.cpu_seconds:.1f}",
            f"{measurement.max_child_rss_mib:.0f}", f"{measurement.peak_tree_rss_mib:.0f}", str(row.changed),
            f"{measurement.load_average_1min:.1f}",
            _ratio_cell(values, "crypto_over_certfleet"), _ratio_cell(values, "certfleet_over_floor"),
        ])
    return _format_table(header, lines)


def signing_table(rows: list[SigningRow]) -> str:
    """Format the signing throughput results as a text table."""
    header = [
        "scenario", "signer", "CSRs", "signing s", "signing CPU s", "CSRs/s", "max proc RSS MiB", "process wall s",
        "process CPU s", "load", "certfleet/loop wall / CPU",
    ]
    floor_row = next((row for row in rows if row.signer == "cryptography loop"), None)
    lines = []
    for row in rows:
        ratio = ""
        if floor_row and row is not floor_row:
            ratio = f"{row.seconds / floor_row.seconds:.2f} / {row.cpu_seconds / floor_row.cpu_seconds:.2f}"
        lines.append([
            "5 CA signing", row.signer, str(row.certificates), f"{row.seconds:.2f}", f"{row.cpu_seconds:.2f}",
            f"{row.per_second:.0f}", f"{row.measurement.max_child_rss_mib:.0f}", f"{row.measurement.wall_seconds:.1f}",
            f"{row.measurement.cpu_seconds:.1f}", f"{row.measurement.load_average_1min:.1f}", ratio,
        ])
    return _format_table(header, lines)


def _row_record(row: Row, rows: list[Row]) -> dict:
    return {
        "scenario": row.scenario,
        "label": SCENARIO_LABELS[row.scenario],
        "tool": row.tool,
        "hosts": row.hosts,
        "wall_seconds": row.measurement.wall_seconds,
        "cpu_seconds": row.measurement.cpu_seconds,
        "max_child_rss_mib": row.measurement.max_child_rss_mib,
        "peak_tree_rss_mib": row.measurement.peak_tree_rss_mib,
        "load_average_1min": row.measurement.load_average_1min,
        "changed": row.changed,
        "round": row.round_number,
        "log": str(row.measurement.log),
        **ratios(row, rows),
    }


def _same_round(row: Row, rows: list[Row]) -> list[Row]:
    return [other for other in rows if other.round_number == row.round_number]


def write_json(path: Path, header: dict, rows: list[Row], signing_rows: list[SigningRow]) -> None:
    """Write the run's settings, machine details, the median rows and every round as JSON."""
    medians = median_rows(rows)
    record = {
        **header,
        # The median rounds, as the table shows them, then every round measured.
        "fleet": [_row_record(row, medians) for row in _sorted(medians)],
        "fleet_rounds": [_row_record(row, _same_round(row, rows)) for row in _sorted(rows)],
        "signing": [
            {**asdict(row), "csrs_per_second": row.per_second, "measurement": {
                key: str(value) if isinstance(value, Path) else value for key, value in asdict(row.measurement).items()
            }}
            for row in signing_rows
        ],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2) + "\n")
