"""What the registry says it did: its notifications (``POST /events``) and its access logs,
read into :class:`~regsweep.core.pulls.Event` values.

::

    notifications.py   an envelope of events, as distribution POSTs it, into events
    access_log.py      access-log lines (text, JSON, combined, docker logs, gzip) into events
    listener.py        the HTTP endpoint the registry's notifications are sent to
"""
