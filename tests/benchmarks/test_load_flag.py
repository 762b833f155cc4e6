"""A case measured under load is marked, and the summary table never shows it as a result."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # benchmarks/ is a top-level package of the checkout, not installed
    sys.path.insert(0, str(ROOT))

from benchmarks.load import cores, load_fields  # noqa: E402
from benchmarks.summary import rows  # noqa: E402


def item(**fields: object) -> dict[str, object]:
    return {
        "case": "cold_exchange",
        "n": 500,
        "wall_seconds": 12.5,
        "ratio_to_baseline": 4.2,
        "requests_per_tenant": 1.002,
        "exchanges_per_tenant": 1.0,
        "cpu_seconds": 3.1,
        "emulator_cpu_seconds": 1.9,
        "peak_rss_mb": 120.0,
        **fields,
    }


def test_load_fields_mark_a_load_above_the_core_count() -> None:
    many = cores()
    assert load_fields(many + 0.5)["under_load"] is True
    fields = load_fields(0.0)
    assert fields["cores"] == many
    assert fields["under_load"] is (fields["load_average_1m"] > many)
    assert fields["load_average_1m"] >= 0.0


def test_the_summary_shows_a_loaded_case_in_brackets_not_as_a_result() -> None:
    loaded, idle = rows(
        [
            item(load_average_1m=7.5, cores=2, under_load=True),
            item(load_average_1m=0.4, cores=2, under_load=False),
        ]
    )[2:]
    assert "(12.5: under load, not a result)" in loaded
    assert "| (4.2) |" in loaded
    assert "| 7.5 on 2 cores |" in loaded
    assert "| 12.5 | 4.2 |" in idle
    assert "under load" not in idle
