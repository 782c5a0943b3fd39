"""Stand-ins for another regsweep holding the lock: a live process, and this machine.

regsweep takes a lock over only when its holder is gone (``regsweep.state.lock``): a test
that wants a holder still at work writes a lock naming a live process on this machine, in
this pid namespace.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def live_process() -> Iterator[int]:
    """The pid of a process that runs until the block ends (then it is killed and reaped)."""
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        yield sleeper.pid
    finally:
        sleeper.kill()
        sleeper.wait()


def this_machine() -> dict[str, object]:
    """Where this process runs, as a lock file records it."""
    return {"host": socket.gethostname(), "pidns": os.readlink("/proc/self/ns/pid")}
