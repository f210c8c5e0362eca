"""Project-level tests: the README, the docs, the examples, the notebooks and the benchmarks."""
