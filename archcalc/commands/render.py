"""`archcalc render` commands (not written yet)."""

COMMANDS: list = []
