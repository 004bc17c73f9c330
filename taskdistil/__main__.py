"""``python -m taskdistil``: the command line."""

import sys

from taskdistil.cli import main

sys.exit(main())
