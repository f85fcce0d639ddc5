"""`archcalc run` commands (not written yet)."""

COMMANDS: list = []
