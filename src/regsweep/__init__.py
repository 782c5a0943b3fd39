"""regsweep: retention and garbage collection for self-hosted Docker/OCI registries.

The data flows one way: discover (``sources``) -> plan (``policy``, ``plan``) -> apply
(``apply``) -> collect (``collect``) -> verify (``verify``). The core (``model``, ``graph``,
``policy``, ``plan``) does no I/O and takes the current time as an argument.
"""

__version__ = "0.1.0"
