"""archcalc: exact shapes, parameters, MACs and receptive fields of CNNs declared in YAML."""

from .errors import ArchcalcError

__all__ = ["ArchcalcError", "analyze", "load_spec", "run"]
__version__ = "0.1.0"


def __getattr__(name: str):
    # heavy modules load on first use, so `archcalc --help` starts fast
    if name == "load_spec":
        from .spec import load_spec

        return load_spec
    if name == "analyze":
        from .analysis import analyze

        return analyze
    if name == "run":
        from .executor import run

        return run
    raise AttributeError(f"module 'archcalc' has no attribute {name!r}")
