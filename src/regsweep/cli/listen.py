"""``regsweep listen``: receive the registry's notifications and record pulls, pushes and
deletes in the pull store, serve the last cleanup's metrics, and (``--schedule``) run the
cleanup on a cron schedule, until SIGTERM or Ctrl-C."""

from __future__ import annotations

import ipaddress
import signal
import threading
from typing import Any

import click

from regsweep.cli.options import options, settings_from
from regsweep.cli.scheduled_run import ScheduledCleanup
from regsweep.cli.settings import Group
from regsweep.cli.terminal import Terminal
from regsweep.pipeline.pulls import Listening, stop_on_signal
from regsweep.pipeline.schedule import Schedule, run_on_schedule


@click.command("listen")
@options(Group.LISTEN, Group.PULLS, names=("metrics_file",))
def listen_command(**params: Any) -> None:
    """Record the registry's notifications (pulls, pushes, deletes) in the pull store."""
    settings = settings_from(params)
    terminal = Terminal()
    listen_options = settings.listen_options()
    if listen_options.token is None and not _loopback(listen_options.host):
        terminal.warn(
            f"listening on {listen_options.host} without --token-file: anyone who reaches "
            "it can record pulls that keep tags"
        )
    stopping = threading.Event()
    cleanup = ScheduledCleanup(settings.metrics_path(), terminal)
    with Listening(listen_options, terminal) as listening:

        def stop(*_: object) -> None:
            stopping.set()
            cleanup.interrupt()
            stop_on_signal(listening)

        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, stop)
        terminal.info(f"listening on {listening.url} (pull store {listen_options.store})")
        scheduler = None
        if settings.cleanup_schedule is not None:
            scheduler = threading.Thread(
                target=run_on_schedule,
                args=(Schedule(settings.cleanup_schedule), cleanup.run, terminal),
                kwargs={"wait": stopping.wait},
                name="scheduled-cleanup",
            )
            scheduler.start()
        listening.serve()
        if scheduler is not None:
            scheduler.join()


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"
