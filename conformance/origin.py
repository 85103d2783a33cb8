"""Where an exception came from: the library under test, or the code around its call.

An invalid call passes only when the library itself refuses it. An exception raised before the call
reaches the library (an adapter's NumPy transpose of a weight of the wrong rank, "axes don't match
array") says nothing about the library, and a plugin's own argument check is not its library's.
`refusal_origin` reads the exception's traceback (following `raise ... from err` to the error it
wraps):

- "library": the innermost frame is in an installed package other than NumPy (the library's own
  Python code), or it is a line of the adapter that is not a `raise` (a call into the library's
  compiled code raised: torch's C++ checks have no Python frame of their own);
- "numpy": the innermost frame is inside NumPy (array glue before or after the call);
- "adapter": an explicit `raise` in the adapter's or plugin's own code (its own check).

It is a heuristic on frames, not a proof: a NumPy method called from an adapter line (`w.reshape`)
reads as "library". The worker computes it where the traceback lives (conformance.worker) and sends
it with the exception's text.
"""

from __future__ import annotations

import linecache
from pathlib import Path

import numpy as np

__all__ = ["ORIGINS", "refusal_origin", "describe_origin"]

ORIGINS = ("library", "numpy", "adapter")

_NUMPY_DIR = Path(np.__file__).resolve().parent  # NumPy is a dependency of the harness


def _installed(path: Path) -> bool:
    return any(part in ("site-packages", "dist-packages") for part in path.parts)


def _wrapped(err: BaseException) -> BaseException:
    """The innermost error `err` wraps (`raise X from err`, or raised while handling one)."""
    seen = {id(err)}
    while True:
        inner = err.__cause__ or (None if err.__suppress_context__ else err.__context__)
        if inner is None or id(inner) in seen:
            return err
        seen.add(id(inner))
        err = inner


def refusal_origin(err: BaseException) -> str:
    """"library", "numpy" or "adapter" for an exception with its traceback (module docstring)."""
    err = _wrapped(err)
    tb = err.__traceback__
    if tb is None:
        return "library"
    while tb.tb_next is not None:
        tb = tb.tb_next
    path = Path(tb.tb_frame.f_code.co_filename).resolve()
    if path.is_relative_to(_NUMPY_DIR):
        return "numpy"
    # Our own packages count as the adapter's side even when installed into site-packages.
    ours = any(part in ("conformance", "references") for part in path.parts[-3:-1])
    if _installed(path) and not ours:
        return "library"
    line = linecache.getline(str(path), tb.tb_lineno).strip()
    return "adapter" if line.startswith("raise") else "library"


def describe_origin(origin: str, builtin: bool) -> str:
    """In words, for a record's message: who refused the call."""
    if origin == "numpy":
        return "NumPy array code around the call"
    if origin == "adapter":
        return "the adapter's own check" if builtin else "the plugin's own code (its own check, not its library)"
    return "the library"
