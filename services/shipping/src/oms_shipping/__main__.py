"""``python -m oms_shipping worker`` runs the shipping service; ``catalogue import FILE``
loads the items' sizes and weights."""

import sys

from oms_runtime import run_worker
from oms_shipping.bootstrap import build_runtime
from oms_shipping.entrypoints.cli import main

if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "catalogue":
        sys.exit(main(sys.argv[1:]))
    run_worker(build_runtime)
