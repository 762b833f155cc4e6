"""``python -m benchmarks.summary FILE.jsonl``: the figures of a run as a Markdown table."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def rows(items: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| case | N | wall s (median) | ratio | requests/tenant | exchanges/tenant | CPU s "
        "| emulator CPU s | peak RSS MB | 1-min load |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for item in items:
        if "error" in item:
            lines.append(f"| {item['case']} | {item['n']} | error: {item['error']} ||||||||")
            continue
        ratio = item.get("ratio_to_baseline")
        wall, cpu = item["wall_seconds"], item["cpu_seconds"]
        if item.get("under_load"):
            # Measured while other work held the cores: shown, never the result.
            wall, cpu = f"({wall}: under load, not a result)", f"({cpu})"
            ratio = None if ratio is None else f"({ratio})"
        lines.append(
            f"| {item['case']} | {item['n']} | {wall} | "
            f"{'' if ratio is None else ratio} | {item['requests_per_tenant']} | "
            f"{item['exchanges_per_tenant']} | {cpu} | "
            f"{item.get('emulator_cpu_seconds')} | {item['peak_rss_mb']} | {_load(item)} |"
        )
    return lines


def _load(item: dict[str, Any]) -> str:
    load = item.get("load_average_1m")
    if load is None:
        return ""
    cores = item.get("cores")
    return f"{load} on {cores} cores" if cores else str(load)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m benchmarks.summary FILE.jsonl", file=sys.stderr)
        return 2
    text = Path(argv[0]).read_text(encoding="utf-8")
    items = [json.loads(line) for line in text.splitlines() if line.strip()]
    print("\n".join(rows(items)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
