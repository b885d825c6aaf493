"""``python -m oms_notification worker``: run the notification service."""

from oms_notification.bootstrap import build_runtime
from oms_runtime import run_worker

if __name__ == "__main__":
    run_worker(build_runtime)
