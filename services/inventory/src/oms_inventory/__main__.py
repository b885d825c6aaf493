"""``python -m oms_inventory worker`` runs the service; ``catalogue import FILE`` loads the
item and location catalogue."""

import sys

from oms_inventory.bootstrap import build_runtime
from oms_inventory.entrypoints.cli import main
from oms_runtime import run_worker

if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "catalogue":
        sys.exit(main(sys.argv[1:]))
    run_worker(build_runtime)
