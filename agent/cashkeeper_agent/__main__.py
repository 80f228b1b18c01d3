"""``python -m cashkeeper_agent``: the same as the ``cashkeeper-agent`` console script."""

import sys

from .main import main

sys.exit(main())
