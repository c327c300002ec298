"""`python -m dfs.cli`: the same as the `dfs` script."""

import sys

from dfs.cli import main

sys.exit(main())
