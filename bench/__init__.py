"""The benchmark suite: `python -m bench list`, `python -m bench run [SCENARIO ...]`.

What each scenario measures, and the published figure it is held against, is in
/work/shared/bench-scenarios.md. The scenario contract is in bench.registry; the JSON rows in
bench.result; the command line in bench.cli.
"""
