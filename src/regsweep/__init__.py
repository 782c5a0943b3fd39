"""regsweep: retention and garbage collection for self-hosted Docker/OCI registries.

The data flows one way: discover (``sources``) -> plan (``policy``, ``plan``) -> apply
(``apply``) -> collect (``collect``) -> verify (``verify``); ``pipeline`` holds the use
cases that chain them, and is what a library user calls::

    import regsweep

    target = regsweep.open_target(regsweep.TargetSpec(storage="/var/lib/registry"))
    planned = regsweep.plan_registry(target, regsweep.PolicySet.of(regsweep.Policy()))
    report = regsweep.run(planned, regsweep.RunOptions(dry_run=True))

(the README's "Use it as a library" has more).

The core (``core``, ``policy``, ``plan``) does no I/O and takes the current time as an
argument. Names are imported on first use, so ``import regsweep`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from regsweep.core.version import VERSION

__version__ = VERSION

__all__ = [
    "CollectOptions",
    "Collector",
    "Inventory",
    "NativeMode",
    "NativeOptions",
    "Plan",
    "Planned",
    "Policy",
    "PolicySet",
    "RegistryAccess",
    "RegsweepError",
    "RunOptions",
    "RunReport",
    "S3Options",
    "Target",
    "TargetSpec",
    "VerifyReport",
    "__version__",
    "collect_garbage",
    "execute",
    "load_policy_file",
    "open_target",
    "plan_registry",
    "run",
    "verify_target",
]

if TYPE_CHECKING:
    from regsweep.collect.options import CollectOptions as CollectOptions
    from regsweep.collect.options import Collector as Collector
    from regsweep.collect.options import NativeMode as NativeMode
    from regsweep.collect.options import NativeOptions as NativeOptions
    from regsweep.core.errors import RegsweepError as RegsweepError
    from regsweep.core.model import Inventory as Inventory
    from regsweep.pipeline.collection import collect_garbage as collect_garbage
    from regsweep.pipeline.execution import RunOptions as RunOptions
    from regsweep.pipeline.execution import execute as execute
    from regsweep.pipeline.execution import run as run
    from regsweep.pipeline.execution import verify_target as verify_target
    from regsweep.pipeline.planning import Planned as Planned
    from regsweep.pipeline.planning import plan_registry as plan_registry
    from regsweep.pipeline.report import RunReport as RunReport
    from regsweep.pipeline.target import Target as Target
    from regsweep.pipeline.target import TargetSpec as TargetSpec
    from regsweep.pipeline.target import open_target as open_target
    from regsweep.plan.planner import Plan as Plan
    from regsweep.policy.file import load_policy_file as load_policy_file
    from regsweep.policy.rules import Policy as Policy
    from regsweep.policy.rules import PolicySet as PolicySet
    from regsweep.sources.api.access import RegistryAccess as RegistryAccess
    from regsweep.sources.storage.s3_location import S3Options as S3Options
    from regsweep.verify import VerifyReport as VerifyReport

#: Where the public names live, searched in this order on first use.
_HOMES = (
    "regsweep.pipeline.target",
    "regsweep.pipeline.planning",
    "regsweep.pipeline.execution",
    "regsweep.pipeline.collection",
    "regsweep.pipeline.report",
    "regsweep.collect.options",
    "regsweep.policy.rules",
    "regsweep.policy.file",
    "regsweep.plan.planner",
    "regsweep.core.model",
    "regsweep.core.errors",
    "regsweep.sources.api.access",
    "regsweep.sources.storage.s3_location",
    "regsweep.verify",
)


def __getattr__(name: str) -> Any:
    """Import a public name on first use (PEP 562): ``regsweep --help`` loads none of them."""
    if name in __all__:
        for home in _HOMES:
            module = importlib.import_module(home)
            if name in vars(module):
                return vars(module)[name]
    raise AttributeError(f"module 'regsweep' has no attribute {name!r}")
