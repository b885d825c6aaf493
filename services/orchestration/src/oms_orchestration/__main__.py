"""``python -m oms_orchestration worker``: run the orchestration service."""

from oms_orchestration.bootstrap import build_runtime
from oms_runtime import run_worker

if __name__ == "__main__":
    run_worker(build_runtime)
