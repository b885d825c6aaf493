"""``python -m oms_shipping worker``: run the shipping service."""

from oms_runtime import run_worker
from oms_shipping.bootstrap import build_runtime

if __name__ == "__main__":
    run_worker(build_runtime)
