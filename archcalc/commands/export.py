"""`archcalc export` commands (not written yet)."""

COMMANDS: list = []
