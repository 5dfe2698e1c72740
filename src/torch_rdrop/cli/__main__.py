"""``python -m torch_rdrop.cli``: the ``rdrop`` command (how ``rdrop bench`` starts its helper
processes)."""

import sys

from torch_rdrop.cli import app

sys.exit(app())
