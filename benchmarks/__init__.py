"""Benchmarks: figures, not timed tests. Each module prints one JSON line per figure with the
baseline measured in the same run and the ratio. Run all with `make bench`."""
