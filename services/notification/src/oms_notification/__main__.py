"""``python -m oms_notification worker``: run the notification service."""

from oms_notification.app import build_runtime

if __name__ == "__main__":
    build_runtime().app.main()
