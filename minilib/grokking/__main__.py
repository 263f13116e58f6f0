"""Alias of `python -m minilib precompute grokking`: python -m minilib.grokking precompute [--only NAME ...]."""

import sys

from ..precompute import main

if __name__ == "__main__":
    argv = sys.argv[1:]
    if argv[:1] == ["precompute"]:
        argv = ["precompute", "grokking", *argv[1:]]
    sys.exit(main(argv))
