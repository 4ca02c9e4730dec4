"""The benchmark harness behind bench/run: environment, fleet layout, timing, scenarios and report."""
