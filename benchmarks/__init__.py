"""Benchmark tooling for regsweep: synthetic registries and the scripts that time them.

A package (not loose scripts) so that tests can ``from benchmarks.synth import synthesize``
with the repository root on ``sys.path``.
"""
