"""``python -m model_hashing``: the model-hash command line."""

import sys

from model_hashing.cli import main

sys.exit(main())
