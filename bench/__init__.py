"""The batchform benchmark: ``make bench`` or ``python -m bench.run --help``.

Not part of ``make test``. Generates its data and model in code (cached in ``bench/data/``),
runs each contender as a subprocess while sampling the RSS of its process tree, and writes
``bench/RESULTS.md``. See ``docs/benchmarks.md``.
"""
