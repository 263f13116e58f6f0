"""The coded exercises of chapter 5 (nbs/05_pfn.py), registered with minilib.exercises."""
