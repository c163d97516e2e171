"""``python -m harness.cli``: the ``ecombench`` command (containers and the tests start it so)."""

from harness.cli import main

main()
