"""``python -m oms_ops``, the same as the ``oms`` command."""

from oms_ops.cli import main

main()
