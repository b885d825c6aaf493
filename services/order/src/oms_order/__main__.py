"""``python -m oms_order worker``: run the order service."""

from oms_order.app import build_runtime

if __name__ == "__main__":
    build_runtime().app.main()
