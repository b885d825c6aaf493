"""``python -m oms_analytics worker``: run the analytics service's faust worker."""

from __future__ import annotations

import sys

from oms_analytics.bootstrap import build_worker
from oms_runtime import configure_logging


def main(argv: list[str]) -> int:
    if argv != ["worker"]:
        print("usage: python -m oms_analytics worker", file=sys.stderr)
        return 2
    configure_logging("analytics")
    build_worker().execute_from_commandline()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
