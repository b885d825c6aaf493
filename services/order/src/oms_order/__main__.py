"""``python -m oms_order worker``: run the order service."""

from oms_order.bootstrap import build_runtime
from oms_runtime import run_worker

if __name__ == "__main__":
    run_worker(build_runtime)
