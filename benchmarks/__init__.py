"""DSN's performance suite. Run it with ``python -m benchmarks`` (see docs/benchmarks.md)."""
