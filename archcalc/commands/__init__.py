"""Command modules: each defines COMMANDS, a list of click commands the CLI registers.

Modules import only click and archcalc.cli at import time; the library loads inside the
command, so `archcalc --help` stays fast.
"""

from . import export, render, run, summary, verify, work

COMMAND_MODULES = [summary, verify, work, render, run, export]
