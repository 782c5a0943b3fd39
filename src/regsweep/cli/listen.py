"""``regsweep listen``: receive the registry's notifications and record pulls, pushes and
deletes in the pull store, until SIGTERM or Ctrl-C."""

from __future__ import annotations

import ipaddress
import signal
from typing import Any

import click

from regsweep.cli.options import options, settings_from
from regsweep.cli.settings import Group
from regsweep.cli.terminal import Terminal
from regsweep.pipeline.pulls import Listening, stop_on_signal


@click.command("listen")
@options(Group.LISTEN, Group.PULLS)
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
    with Listening(listen_options, terminal) as listening:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop_on_signal(listening))
        terminal.info(f"listening on {listening.url} (pull store {listen_options.store})")
        listening.serve()


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"
