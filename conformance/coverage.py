"""Which regions of the configuration space an example touches, for the report's coverage table.

The features are declared with the axes they belong to (conformance.config.AXES); this module only
reads those declarations.
"""

from __future__ import annotations

from .config import AXES, ConvConfig

__all__ = ["FEATURES", "features_of"]

FEATURES: tuple[str, ...] = tuple(name for axis in AXES for name, _ in axis.features)


def features_of(config: ConvConfig) -> list[str]:
    """The FEATURES this config has."""
    return [name for axis in AXES for name, present in axis.features if present(config)]
