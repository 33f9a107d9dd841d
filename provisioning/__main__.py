"""``python -m provisioning ARGS`` is ``innsight provision ARGS``."""

from __future__ import annotations

import sys

from innsight.cli import main

if __name__ == "__main__":
    sys.exit(main(["provision", *sys.argv[1:]]))
