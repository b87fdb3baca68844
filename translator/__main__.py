"""`python -m translator` runs the command-line interface."""

import sys

from translator.cli.main import main

sys.exit(main())
