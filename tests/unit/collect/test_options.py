"""What a dry run says a real run would collect with."""

from __future__ import annotations

from datetime import timedelta

from regsweep.collect.options import CollectOptions, Collector, NativeMode, NativeOptions


def test_the_registrys_gc_and_its_restart_are_named_as_they_would_run() -> None:
    options = CollectOptions(
        Collector.REGISTRY,
        gc_argv=("docker", "exec", "-i", "my registry", "registry", "garbage-collect", "/c.yml"),
        restart_argv=("docker", "restart", "my registry"),
    )
    assert options.describe() == (
        "garbage collection: docker exec -i 'my registry' registry garbage-collect /c.yml",
        "then, if blobs were freed, restart: docker restart 'my registry'",
    )


def test_native_collection_says_its_mode_and_a_missing_restart() -> None:
    live = CollectOptions(
        Collector.NATIVE, native=NativeOptions(quarantine_delay=timedelta(hours=12))
    )
    assert live.describe() == (
        "garbage collection: regsweep's own (live: swept blobs quarantined for 12h)",
        "no restart (--no-restart): restart the registry after a collection",
    )
    offline = CollectOptions(Collector.NATIVE, native=NativeOptions(mode=NativeMode.OFFLINE))
    assert offline.describe()[0] == "garbage collection: regsweep's own (offline, deleting at once)"


def test_an_unconfigured_collection_says_so_and_leaves_the_reason_to_the_check() -> None:
    missing = CollectOptions(Collector.REGISTRY, missing="cannot collect garbage: set X")
    assert missing.describe() == (
        "garbage collection: the registry's garbage-collect, not configured",
    )
    assert CollectOptions(Collector.NONE).describe() == (
        "garbage collection: none (the blobs stay until something collects them)",
    )
