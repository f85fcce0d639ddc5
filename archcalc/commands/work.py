"""`archcalc work` commands (not written yet)."""

COMMANDS: list = []
