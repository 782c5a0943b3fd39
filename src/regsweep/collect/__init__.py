"""Garbage collection after apply: the registry's own ``garbage-collect`` (``registry``) or
regsweep's collector (``native``), and the restart that makes the registry forget what went.
"""
