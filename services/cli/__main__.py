"""`python -m services.cli`: the `caseweave` command."""

import sys

from services.cli.main import main

sys.exit(main())
