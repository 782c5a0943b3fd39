"""``python -m regsweep``."""

from regsweep.cli.main import main

main()
