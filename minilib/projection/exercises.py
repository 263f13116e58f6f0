"""Coded exercises of chapter 4 (registered with minilib.exercises)."""
