"""``python -m pipeline`` is the ``urbansound`` command."""

import sys

from pipeline.cli import main

sys.exit(main())
