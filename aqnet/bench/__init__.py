"""`aqnet-bench`: speed and memory benchmarks that print JSON lines (one object per line on stdout).

- :mod:`aqnet.bench.attention`: one biased attention layer per backend against plain SDPA, per token count.
- :mod:`aqnet.bench.step`: one full training step of the configured Forecaster, optionally against no bias.
- :mod:`aqnet.bench.measure`: timing (median after a warm-up) and peak memory (``peak_kind`` says which).
- :mod:`aqnet.bench.inputs`: realistic random physical fields (elevation, wind, the other inputs).

Targets are reported, never asserted (docs/performance.md). Nothing here imports torch at package import, so
``aqnet-bench`` answers argument errors without loading it.
"""
