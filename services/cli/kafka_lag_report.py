"""What `caseweave kafka lag` prints: a table per consumer group, or JSON for machines."""

import json
from collections.abc import Sequence
from dataclasses import asdict

from services.runtime.kafka.group_lag import GroupLag, PartitionLag

Cells = tuple[str, str, str, str, str]
HEADINGS: Cells = ("TOPIC", "PARTITION", "END OFFSET", "COMMITTED", "LAG")
NOTHING_COMMITTED = "nothing committed yet, so its lag is the whole of its topics"


def lag_table(groups: Sequence[GroupLag]) -> list[str]:
    """Return the report's lines: per group a heading, a row per partition and a total."""
    rows = {group.group_id: _rows(group) for group in groups}
    widths = [max(len(cells[i]) for table in rows.values() for cells in table) for i in range(5)]
    lines: list[str] = []
    for group in groups:
        if lines:
            lines.append("")
        note = f": {NOTHING_COMMITTED}" if group.committed_nothing else ""
        lines.append(group.group_id + note)
        lines.extend(_aligned(cells, widths) for cells in rows[group.group_id])
    return lines


def _rows(group: GroupLag) -> list[Cells]:
    total_end = sum(p.end_offset for p in group.partitions)
    total: Cells = ("total", "", str(total_end), "", str(group.total_lag))
    return [HEADINGS, *(_cells(p) for p in group.partitions), total]


def _cells(p: PartitionLag) -> Cells:
    committed = "-" if p.committed_offset is None else str(p.committed_offset)
    return (p.topic, str(p.partition), str(p.end_offset), committed, str(p.lag))


def _aligned(cells: Cells, widths: Sequence[int]) -> str:
    topic, *numbers = cells
    right = (cell.rjust(width) for cell, width in zip(numbers, widths[1:], strict=True))
    return "  " + "  ".join([topic.ljust(widths[0]), *right]).rstrip()


def lag_json(groups: Sequence[GroupLag]) -> str:
    """Return the report as JSON: per group its partitions, total lag and whether it committed."""
    return json.dumps(
        {
            "groups": [
                {
                    "group_id": group.group_id,
                    "committed_nothing": group.committed_nothing,
                    "total_lag": group.total_lag,
                    "partitions": [asdict(p) for p in group.partitions],
                }
                for group in groups
            ]
        },
        indent=2,
    )
