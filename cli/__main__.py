"""``python -m creditlink.cli``."""

import sys

from creditlink.cli import main

sys.exit(main())
