"""``python -m devemu``."""

import sys

from devemu.cli import main

sys.exit(main())
