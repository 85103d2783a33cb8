"""conv-conformance: a differential test harness for convolution operators.

Public names only; importing this package imports NumPy and nothing else heavy (no torch, jax or
tensorflow: those load when an adapter is first used).
"""

from .arithmetic import Arithmetic, default_arithmetic
from .capabilities import FrameworkRefusal, Gap
from .config import DTYPES, ConvConfig, InvalidConfig
from .definitions import Definition
from .registry import (
    Implementation,
    ImplementationLoadError,
    get_implementation,
    implementations,
    load_implementation_spec,
    register,
)

__all__ = [
    "Arithmetic",
    "ConvConfig",
    "DTYPES",
    "Definition",
    "FrameworkRefusal",
    "Gap",
    "Implementation",
    "ImplementationLoadError",
    "InvalidConfig",
    "default_arithmetic",
    "get_implementation",
    "implementations",
    "load_implementation_spec",
    "register",
]

__version__ = "0.1.0"
