"""The `archcalc` command line: thin commands that parse, call the library and print.

ArchcalcError -> its message on stderr and exit 1; misuse -> click's usage error, exit 2.
"""

from __future__ import annotations

import functools
import gc
import sys
from typing import Any

import click

from .errors import ArchcalcError


def console(stderr: bool = False):
    """A rich console; when output is piped, wide enough that no number is cut."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() else 160
    return Console(stderr=stderr, highlight=False, soft_wrap=False, width=width)


def handle_errors(command):
    """Print ArchcalcError as one clean message (exit 1); --traceback shows the stack."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any):
        try:
            return command(*args, **kwargs)
        except ArchcalcError as exc:
            if _want_traceback():
                raise
            click.echo(f"error: {exc.message}", err=True)
            sys.exit(exc.exit_code)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)
        except MemoryError:
            if _want_traceback():
                raise
            click.echo("error: out of memory. Fix: try a smaller input, batch or network.",
                       err=True)
            sys.exit(1)
        except Exception as exc:  # a bug in archcalc, not in the user's input
            if _want_traceback():
                raise
            click.echo(f"internal error: {type(exc).__name__}: {exc}. This is a bug in archcalc; "
                       "please report it with the output of --traceback.", err=True)
            sys.exit(3)

    return wrapper


def _want_traceback() -> bool:
    ctx = click.get_current_context(silent=True)
    return bool(ctx and ctx.find_root().params.get("traceback"))


spec_argument = click.argument("spec", metavar="SPEC")
set_option = click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
                          help="Override a network parameter declared under params:.")
force_option = click.option("--force", is_flag=True, help="Replace an existing output file.")


def parse_overrides(pairs: tuple[str, ...]) -> dict[str, Any]:
    """--set key=value pairs; values read as YAML scalars (true, 3, 0.5, text)."""
    from .yaml_source import parse_yaml

    overrides = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"'{pair}' is not key=value", param_hint="--set")
        overrides[key.strip()] = parse_yaml(value, "--set")
    return overrides


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--traceback", is_flag=True, help="Show the Python traceback on errors.")
@click.version_option(package_name="archcalc")
def cli(traceback: bool) -> None:
    """Exact shapes, parameters, MACs and receptive fields of CNNs declared in YAML.

    SPEC is a path to a YAML spec or the name of a bundled one (e.g. vgg16).
    """


def _register_commands() -> None:
    """Each command family lives in its own module under archcalc/commands/."""
    from .commands import COMMAND_MODULES

    for module in COMMAND_MODULES:
        for command in module.COMMANDS:
            cli.add_command(command)


_register_commands()


def main() -> None:
    # A short-lived process that allocates many small, acyclic objects (imports, the expanded
    # spec): collecting less often saves ~10 % of `archcalc summary vgg16` and more on big specs.
    gc.set_threshold(100_000, 50, 50)
    cli(prog_name="archcalc")
