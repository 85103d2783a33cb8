"""A short reproducer for a plugin's finding: the exact inputs, the expected values and the bound,
and one function where the maintainer pastes their library's call.

A plugin's kernel is the user's own library (OpenVINO, PaddlePaddle, a CUDA kernel), which this
package cannot write a call for. So instead of a script that imports the plugin's module, the
skeleton carries everything the check used, computed here: the inputs in the config's dtype (exact
values, base64 of their float64 bytes), the float64 expected results (conformance.oracle) and the
per-element error bound of the declared arithmetic (conformance.tolerance.error_bound). It needs
only NumPy; `call()` is the one place to fill in (two lines to replace). It exits 1 while the result is beyond the bound,
0 when it is within, 2 until `call()` is filled in.

    print(skeleton_script(config, "forward", seed=0, values="normal", arithmetic=..., spec="m:MyConv"))

Forward and gradient (VJP) checks; the other check kinds keep the full standalone script.
"""

from __future__ import annotations

import base64

import numpy as np

from .arithmetic import Arithmetic, default_arithmetic
from .checks import CHECK_KINDS
from .config import ConvConfig
from .oracle import compute_oracle
from .strategies import make_tensors
from .tolerance import error_bound

__all__ = ["SKELETON_CHECKS", "skeleton_script"]

SKELETON_CHECKS = ("forward", "gradient")
_INPUTS = {"forward": ("x", "w", "b"), "gradient": ("x", "w", "b", "grad_out")}


def _literal(array: np.ndarray) -> str:
    """One line that rebuilds `array` exactly (float64 bytes, base64)."""
    data = base64.b64encode(np.ascontiguousarray(array, dtype="<f8").tobytes()).decode()
    return f'np.frombuffer(base64.b64decode("{data}"), "<f8").reshape({tuple(array.shape)})'


def skeleton_script(config: ConvConfig, check: str, *, seed: int = 0, values: str = "normal",
                    arithmetic: Arithmetic | None = None, spec: str = "your library", title: str = "") -> str:
    """The skeleton reproducer of one forward or gradient example (module docstring)."""
    if check not in SKELETON_CHECKS:
        raise ValueError(f"check={check!r}: the skeleton covers {SKELETON_CHECKS}; use the full standalone script")
    kind = CHECK_KINDS[check]
    arithmetic = arithmetic or default_arithmetic(config.dtype)
    tensors = make_tensors(config, seed, values)
    oracle = compute_oracle(config, tensors, kind)
    terms = kind.reduction_lengths(config)
    results = list(oracle.expected)
    lines = [
        f'"""{title or "A conformance finding"}',
        "",
        f"{spec} on {config} (check {check}, data seed {seed}, {values} values).",
        "Fill in call() with your library's call; run: python this_file.py (exit 1: beyond the bound, 0: within).",
        "Layouts are PyTorch's: x (N, C_in, *spatial); w (C_out, C_in/groups, *kernel), transposed (C_in, C_out/groups, *kernel).",
        f"Written by conv-conformance; config as JSON: {config.to_json()}",
        '"""',
        "import base64",
        "import sys",
        "",
        "import numpy as np",
        "",
        f"DTYPE = {config.dtype!r}  # the inputs' values are exact in it; hand them over in it",
        f"STRIDE, DILATION, GROUPS = {config.stride}, {config.dilation}, {config.groups}",
        f"PADDING = {config.resolved_padding}  # (lo, hi) per spatial dim"
        + (f"; output_padding {config.output_padding}" if config.transposed else ""),
    ]
    for name in _INPUTS[check]:
        array = getattr(tensors, name)
        lines.append(f"{name} = {_literal(array) if array is not None else 'None'}")
    lines.append("")
    for name in results:
        bound = error_bound(oracle.abs_sums[name], oracle.expected[name], terms[name], arithmetic,
                            kind.partial_roundings(config).get(name, 0))
        lines.append(f"expected_{name} = {_literal(oracle.expected[name])}")
        lines.append(f"bound_{name} = {_literal(bound)}  # {arithmetic.accumulation} accumulation, "
                     f"{arithmetic.output} output, K = {terms[name]}")
    returns = "the output" if check == "forward" else "(grad_input, grad_weight, grad_bias or None)"
    arguments = "x, w, b" if check == "forward" else "x, w, b, grad_out"
    lines += [
        "",
        "",
        f"def call({arguments}):",
        f'    """Your library\'s {"convolution" if not config.transposed else "transposed convolution"} on these arrays; '
        f'return {returns} as NumPy."""',
        '    print("fill in call() with your library\'s call")  # <- replace these two lines',
        "    sys.exit(2)",
        "",
        "",
        f"got = call({arguments})",
        f"got = {{{results[0]!r}: got}}" if check == "forward" else
        f"got = dict(zip({tuple(results)!r}, got))",
        "failed = False",
        f"for name in {tuple(results)!r}:",
        "    want, bound = globals()['expected_' + name], globals()['bound_' + name]",
        "    have = np.asarray(got[name], dtype=np.float64)",
        "    if have.shape != want.shape:",
        "        print(f'{name}: shape {have.shape}, expected {want.shape}'); failed = True; continue",
        "    ratio = np.abs(have - want) / bound",
        "    worst = np.unravel_index(np.argmax(ratio), ratio.shape) if ratio.size else ()",
        "    beyond = int(np.sum(ratio > 1))",
        "    print(f'{name}: {beyond} of {ratio.size} elements beyond the bound' + (f'; worst {name}{list(worst)} = '",
        "          f'{have[worst]:.6g}, expected {want[worst]:.6g} ({ratio[worst]:.3g} x bound {bound[worst]:.3g})'",
        "          if ratio.size else ''))",
        "    failed |= beyond > 0",
        "sys.exit(1 if failed else 0)",
    ]
    return "\n".join(lines) + "\n"
