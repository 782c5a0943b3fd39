"""Discovery's reads run ahead of what takes them by a bounded number of batches: a caller
slower than the readers (the manifests written to disk under a memory limit) must not find
every parsed manifest piled up in finished tasks."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace
from typing import cast

import pytest

from regsweep.sources.storage import discovery
from regsweep.sources.storage.store import ReadableStore


def test_reads_run_a_bounded_number_of_batches_ahead_and_keep_the_order() -> None:
    read: list[int] = []
    lock = threading.Lock()

    def note(item: int) -> int:
        with lock:
            read.append(item)
        return item * 2

    items = list(range(5000))
    with ThreadPoolExecutor(max_workers=2) as executor:
        pool = discovery._Pool(executor, readers=2)
        batch = min(discovery._BATCH, len(items) // (4 * pool.readers))
        results = pool.each(note, items)
        assert next(results) == 0
        time.sleep(0.3)  # ample for 5,000 reads of nothing, were they all started
        with lock:
            ahead = len(read)
        assert ahead <= (discovery._AHEAD * pool.readers + 1) * batch < len(items)
        assert [0, *results] == [2 * i for i in items]
    assert sorted(read) == items


def test_one_reader_reads_on_the_calling_thread_as_each_result_is_taken() -> None:
    threads: list[threading.Thread] = []

    def note(item: int) -> int:
        threads.append(threading.current_thread())
        return item * 2

    with ThreadPoolExecutor(max_workers=1) as executor:
        results = discovery._Pool(executor, readers=1).each(note, list(range(100)))
        assert next(results) == 0
        assert len(threads) == 1  # nothing read ahead
        assert [0, *results] == [2 * i for i in range(100)]
    assert set(threads) == {threading.current_thread()}


@pytest.mark.parametrize(("briefly", "readers"), [(True, 1), (False, 16)])
def test_discovery_reads_a_local_folder_with_one_reader_object_storage_with_the_store_s(
    briefly: bool, readers: int
) -> None:
    store = SimpleNamespace(blocks_briefly=briefly, readers=16)
    assert discovery._readers(cast(ReadableStore, store)) == readers
