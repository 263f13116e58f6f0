"""Mutation tests: plausible bugs injected by monkeypatching; the science checks must catch each one."""
