"""`archcalc verify`: check the bundled specs' `expect:` claims against their analyses."""

from __future__ import annotations

import json
import sys

import click

from ..cli import console, handle_errors


@click.command()
@click.argument("names", nargs=-1, metavar="[NAMES]...")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True)
@click.option("--failed", is_flag=True, help="Show only the claims that do not hold.")
@handle_errors
def verify(names: tuple[str, ...], fmt: str, failed: bool) -> None:
    """Check every bundled spec's expectations (or those of NAMES: bundled names or paths).

    Prints each claim with ✓ or ✗, the expected and the actual value and its source; exits 1
    when any claim fails or a spec cannot be analysed.
    """
    from ..analysis import analyze
    from ..errors import ArchcalcError
    from ..expectations import check_expectations, claims_summary, claims_table
    from ..spec import bundled_names, load_spec

    checked: list[tuple[str, list]] = []
    errors: list[tuple[str, str]] = []
    for name in names or bundled_names():
        try:
            analysis = analyze(load_spec(name))
            checked.append((analysis.name, check_expectations(analysis)))
        except ArchcalcError as exc:
            errors.append((name, exc.message))
    bad = any(not r.ok for _, results in checked for r in results) or bool(errors)
    if fmt == "json":
        click.echo(json.dumps({
            "specs": [{"name": n, "claims": [r.as_dict() for r in results
                                              if not (failed and r.ok)]}
                      for n, results in checked],
            "errors": [{"spec": n, "message": m} for n, m in errors],
            "passed": sum(r.ok for _, results in checked for r in results),
            "failed": sum(not r.ok for _, results in checked for r in results),
            "ok": not bad,
        }, indent=2, ensure_ascii=False))
    else:
        out = console()
        if checked and (not failed or bad):
            out.print(claims_table(checked, failed_only=failed))
        for _, message in errors:  # the message starts with the spec's file; one line each
            click.echo(f"error: {message}", err=True)
        out.print(claims_summary(checked, errors=len(errors)))
    if bad:
        sys.exit(1)


COMMANDS = [verify]
