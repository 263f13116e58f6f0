"""Browser test of the built book site (pytest -m browser; run by `make browser`)."""
