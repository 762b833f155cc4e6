"""Scale benchmarks: fleets of tenants against the emulator with injected latency (issue 8).

``python -m benchmarks [case ...] [--n 100 500 1000] [--latency-ms 50] [--repeat 3]
[--json-out FILE]`` or ``make bench``; see ``benchmarks/README.md``. Each case prints one JSON
object per line. Nothing here is part of the toolkit's public API.
"""
