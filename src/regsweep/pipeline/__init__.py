"""The use cases, one function each: open a target, plan, run, apply a plan file, collect,
verify. Each takes typed options and returns a typed report; the commands only parse, call,
render and choose an exit code, and a library user calls the same functions.

::

    target.py      TargetSpec -> Target: storage, API, or both, chosen once
    discovery.py   Target -> Inventory (storage or API)
    planning.py    Target + PolicySet -> Planned (the plan and what it came from)
    execution.py   Plan -> RunReport: pre-flight, apply, collect, verify (or the dry run)
    collection.py  the collection after apply, and regsweep gc on its own
    damage.py      what storage damage refuses (--strict, a collector it would stop)
    history.py     a real run recorded in its registry's history (the brake reads it)
    pulls.py       listen, import access logs, read the pull store into a plan's tags
    report.py      RunReport, read by the JSON output, the text summary and the journal
    observer.py    how a use case reports progress without owning a screen
"""

from regsweep.pipeline.discovery import Discovered, discover
from regsweep.pipeline.execution import RunOptions, execute, run, verify_target
from regsweep.pipeline.observer import LoggingObserver, Observer
from regsweep.pipeline.planning import Planned, plan_registry
from regsweep.pipeline.report import RunReport, StorageBytes
from regsweep.pipeline.target import Mode, Target, TargetSpec, open_storage_target, open_target

__all__ = [
    "Discovered",
    "LoggingObserver",
    "Mode",
    "Observer",
    "Planned",
    "RunOptions",
    "RunReport",
    "StorageBytes",
    "Target",
    "TargetSpec",
    "discover",
    "execute",
    "open_storage_target",
    "open_target",
    "plan_registry",
    "run",
    "verify_target",
]
