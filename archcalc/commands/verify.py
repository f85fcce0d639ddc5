"""`archcalc verify` commands (not written yet)."""

COMMANDS: list = []
