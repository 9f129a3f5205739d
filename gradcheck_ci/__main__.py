"""`python -m gradcheck_ci ...`: the same as the `gradcheck-ci` command."""

import sys

from .commands.launch import main

if __name__ == "__main__":
    sys.exit(main())
