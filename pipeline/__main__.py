"""``python -m pipeline`` is the ``urbansound`` command."""

import sys

from pipeline.cli import main

if __name__ == "__main__":  # importing it (as the API reference does) runs nothing
    sys.exit(main())
