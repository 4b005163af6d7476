"""``python -m encoders run ...``: the same as ``hash-envs encoders run ...``."""

import sys

from encoders.cli import main

sys.exit(main())
