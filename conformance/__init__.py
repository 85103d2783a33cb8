"""conv-conformance: a differential test harness for convolution operators.

Public names only, each loaded from its module when first used (PEP 562): importing this package
imports nothing beyond it, so the pytest plugin an installed package brings to every pytest run
costs nothing where the suite is not run. Using a name imports NumPy and nothing else heavy (no
torch, jax or tensorflow: those load when an adapter is first used).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the names as static tools see them; at run time __getattr__ loads them
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

# Each public name and the module that defines it.
_HOMES = {
    "Arithmetic": "arithmetic",
    "default_arithmetic": "arithmetic",
    "FrameworkRefusal": "capabilities",
    "Gap": "capabilities",
    "DTYPES": "config",
    "ConvConfig": "config",
    "InvalidConfig": "config",
    "Definition": "definitions",
    "Implementation": "registry",
    "ImplementationLoadError": "registry",
    "get_implementation": "registry",
    "implementations": "registry",
    "load_implementation_spec": "registry",
    "register": "registry",
}

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


def __getattr__(name: str):
    home = _HOMES.get(name)
    if home is None:  # a submodule (`from conformance import harness`) is imported by the import system
        raise AttributeError(f"module 'conformance' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{home}", __name__), name)
    globals()[name] = value  # found directly next time
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
