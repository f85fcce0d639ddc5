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
