"""python -m minilib precompute [CHAPTER ...] [--only NAME ...] [--list] [--check] (see minilib.precompute)."""

import sys

from .precompute import main

sys.exit(main())
