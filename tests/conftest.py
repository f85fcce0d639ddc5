"""Shared test helpers."""

from __future__ import annotations

import pytest

from archcalc.analysis import analyze
from archcalc.spec import parse_spec


@pytest.fixture
def analyse_text():
    """Analyse a spec written inline in a test."""

    def run(text: str, **kwargs):
        return analyze(parse_spec(text, file="test.yaml", **kwargs))

    return run


def pytest_addoption(parser):
    parser.addoption("--update-golden", action="store_true",
                     help="Rewrite golden files from the current output (review the diff!).")


@pytest.fixture
def golden(request):
    """Compare text with tests/golden/<name>; --update-golden rewrites it instead."""
    import os
    from pathlib import Path

    update = request.config.getoption("--update-golden") or os.environ.get(
        "ARCHCALC_UPDATE_GOLDEN") == "1"

    def check(name: str, text: str) -> None:
        path = Path(__file__).parent / "golden" / name
        if update:
            path.write_text(text, encoding="utf-8")
            return
        assert path.exists(), f"no golden file {path}; run pytest --update-golden and review it"
        assert text == path.read_text(encoding="utf-8")

    return check
