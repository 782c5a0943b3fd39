"""What regsweep keeps between runs and what guards a run: the journal, the lock, its lease.

Every deletion is written to the journal first; one regsweep at a time holds the lock.
"""
