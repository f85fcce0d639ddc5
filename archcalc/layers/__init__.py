"""Layer kinds. Importing this package registers every kind; adding a kind means adding one
class in one of these modules (and its worked examples)."""

from . import activation, conv, dense, merge, norm, pool  # noqa: F401  (registers the kinds)
from .base import REGISTRY, Context, Cost, Inferred, Layer, Shape, TensorSpec, shape_text

__all__ = ["REGISTRY", "Context", "Cost", "Inferred", "Layer", "Shape", "TensorSpec",
           "shape_text"]
