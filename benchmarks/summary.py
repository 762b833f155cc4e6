"""``python -m benchmarks.summary FILE.jsonl``: the figures of a run as a Markdown table."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def rows(items: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| case | N | wall s (median) | ratio | requests/tenant | exchanges/tenant | CPU s "
        "| emulator CPU s | peak RSS MB |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for item in items:
        if "error" in item:
            lines.append(f"| {item['case']} | {item['n']} | error: {item['error']} |||||||")
            continue
        ratio = item.get("ratio_to_baseline")
        lines.append(
            f"| {item['case']} | {item['n']} | {item['wall_seconds']} | "
            f"{'' if ratio is None else ratio} | {item['requests_per_tenant']} | "
            f"{item['exchanges_per_tenant']} | {item['cpu_seconds']} | "
            f"{item.get('emulator_cpu_seconds')} | {item['peak_rss_mb']} |"
        )
    return lines


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
