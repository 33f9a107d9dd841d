import sys

from innsight.cli import main

sys.exit(main())
