"""PyTorch adapter: torch.nn.functional.conv{1,2,3}d / conv_transpose{1,2,3}d, gradients by autograd.

Layouts are PyTorch's own, so arrays pass through unchanged:
x: (N, C_in, *in_size); w: (C_out, C_in/groups, *kernel), or (C_in, C_out/groups, *kernel) when
transposed; b: (C_out,). NumPy in (the config dtype's storage type), NumPy out (bfloat16 results
as float32 arrays).

torch is imported on first use, never at module import: `import references.torch.functional` stays
cheap and framework-free (`import torch` here is always the real torch, an absolute import).

Precision: on CUDA, float32 convolutions may use TF32 (cuDNN's default on Ampere and later).
`precision="highest"` sets the conv/matmul fp32 precision to "ieee" for the duration of each call
and restores the previous settings afterwards; `arithmetic()` reports which one was in force.
"""

from __future__ import annotations

import contextlib
import importlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from conformance.arithmetic import Arithmetic, default_arithmetic
from conformance.call_forms import torch_padding_args
from conformance.capabilities import TRANSPOSED_OPS, no_padding_modes
from conformance.config import ConvConfig
from references._adapter import FrameworkAdapter

__all__ = [
    "TorchAdapter",
    "cuda_unavailable_reason",
    "gpu_supports_tf32",
    "conv_fp32_precision",
    "full_fp32_precision",
    "torch_padding_args",
    "tensor_with_strides",
    "check_output_layout",
    "OutputLayoutError",
]


# (backend module path, op) pairs whose fp32_precision can reduce float32 convolution precision.
# "highest" sets each of them to "ieee" during a call. Convolutions on CUDA go through cuDNN, and
# some shapes through cuBLAS GEMMs; on CPU through oneDNN (mkldnn).
_FP32_KNOBS = (
    ("cudnn", "conv"),
    ("cuda", "matmul"),
    ("mkldnn", "conv"),
    ("mkldnn", "matmul"),
)


def _torch():
    return importlib.import_module("torch")


# ---- device selection (small functions so tests can monkeypatch torch.cuda on a CPU machine) ----


def cuda_unavailable_reason(torch=None) -> str | None:
    """None when torch can run on a CUDA device, else a sentence saying why not."""
    torch = torch or _torch()
    if torch.cuda.is_available():
        return None
    build = "CPU-only build" if torch.version.cuda is None else f"built with CUDA {torch.version.cuda}"
    return f"torch: torch.cuda.is_available() is False ({build} {torch.__version__})"


def gpu_supports_tf32(torch=None) -> bool:
    """TF32 tensor cores exist from compute capability 8.0 (Ampere) on."""
    torch = torch or _torch()
    return tuple(torch.cuda.get_device_capability()) >= (8, 0)


def _knob(torch, backend: str, op: str | None):
    """The object holding fp32_precision for backend[.op], or None on torch versions without it."""
    obj = getattr(torch.backends, backend, None)
    if obj is not None and op is not None:
        obj = getattr(obj, op, None)
    return obj if obj is not None and hasattr(obj, "fp32_precision") else None


def conv_fp32_precision(torch, backend: str) -> str:
    """The fp32 precision in force for convolutions on `backend` ("cudnn" or "mkldnn").

    torch >= 2.9 resolves "none" from the op to its backend to the generic setting; when all three
    say "none" the legacy flag decides (cudnn: allow_tf32; mkldnn: full float32).
    Returns "ieee", "tf32", "bf16" or "unknown" (legacy and new APIs mixed inconsistently).
    """
    values = [knob.fp32_precision for knob in (_knob(torch, backend, "conv"), _knob(torch, backend, None))
              if knob is not None]
    generic = getattr(torch.backends, "fp32_precision", None)
    if isinstance(generic, str):
        values.append(generic)
    for value in values:
        if value != "none":
            return value
    if backend != "cudnn":
        return "ieee"
    try:
        return "tf32" if torch.backends.cudnn.allow_tf32 else "ieee"
    except RuntimeError:  # torch refuses to answer when legacy and new APIs were mixed
        return "unknown"


@contextlib.contextmanager
def full_fp32_precision(torch):
    """Set every fp32 precision knob that affects convolutions to "ieee"; restore them on exit."""
    saved = []
    legacy = None
    try:
        for backend, op in _FP32_KNOBS:
            knob = _knob(torch, backend, op)
            if knob is not None:
                saved.append((knob, knob.fp32_precision))
                knob.fp32_precision = "ieee"
        if _knob(torch, "cudnn", "conv") is None:  # torch < 2.9: only the legacy flag exists
            legacy = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
            torch.backends.cudnn.allow_tf32 = False
            torch.backends.cuda.matmul.allow_tf32 = False
        yield
    finally:
        for knob, value in reversed(saved):
            knob.fp32_precision = value
        if legacy is not None:
            torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = legacy


# ---- the convolution ------------------------------------------------------------------------


_TORCH_DTYPES = {"float64": "float64", "float32": "float32", "float16": "float16", "bfloat16": "bfloat16"}


@dataclass(frozen=True)
class TorchConvCall:
    """The torch.nn.functional calls that compute one config, as plain values: what a user's code holds.

    Worked out once per config (conv_call), so the traced function of torch.compile holds only these
    calls: Dynamo then traces and guards a few plain values, not the harness's ConvConfig logic (on
    a warm Inductor cache, tracing is most of the cost of a new config).

    - op: the F function ("conv2d", "conv_transpose1d"); kwargs: its keyword arguments;
    - mode_pad: (F.pad's flat list, mode) for a padding mode, done first as nn.Conv*d does;
    - refuse_same: a padding mode with "same" and stride > 1, which nn.Conv*d refuses: the call is
      made with padding="same" first, so torch's own check says so;
    - pre_pad: F.pad's (zeros) flat list for the asymmetric rest of an ordinary padding;
    - crop: per spatial dim, (from_lo, from_hi) removed from a transposed output;
    - ndim: spatial dims.
    """

    op: str
    kwargs: tuple[tuple[str, Any], ...]
    ndim: int
    mode_pad: tuple[tuple[int, ...], str] | None = None
    refuse_same: bool = False
    pre_pad: tuple[int, ...] | None = None
    crop: tuple[tuple[int, int], ...] | None = None


def conv_call(config: ConvConfig) -> TorchConvCall:
    """config's convolution as F.pad / F.conv* calls (see torch_padding_args for the padding)."""
    mode_pad, refuse_same = None, False
    if config.padding_mode != "zeros":
        refuse_same = config.padding == "same" and any(s != 1 for s in config.stride)
        # What nn.Conv*d does for a padding mode: F.pad by the mode, then a convolution without padding.
        flat = tuple(side for pair in reversed(config.resolved_padding) for side in pair)
        mode_pad = (flat, config.padding_mode)
        pre_pad, padding, crop = None, 0, None
    else:
        pre_pad, padding, crop = torch_padding_args(config)
    if config.transposed:
        op = f"conv_transpose{config.ndim}d"
        kwargs = dict(stride=config.stride, padding=padding, output_padding=config.output_padding,
                      groups=config.groups, dilation=config.dilation)
    else:
        op = f"conv{config.ndim}d"
        kwargs = dict(stride=config.stride, padding=padding, dilation=config.dilation, groups=config.groups)
    return TorchConvCall(op=op, kwargs=tuple(kwargs.items()), ndim=config.ndim, mode_pad=mode_pad,
                         refuse_same=refuse_same, pre_pad=None if pre_pad is None else tuple(pre_pad),
                         crop=crop)


def run_conv_call(functional, call: TorchConvCall, x, w, b, check_layout=None):
    """Make the calls of `call` on tensors (eagerly, or traced by torch.compile). check_layout(x, y),
    when given, sees the tensor the convolution was given and its output, before any crop."""
    kwargs = dict(call.kwargs)
    op = getattr(functional, call.op)
    if call.mode_pad is not None:
        if call.refuse_same:
            # nn.Conv*d refuses "same" with stride > 1 whatever the mode: let torch's own check say so
            # rather than resolving the padding here and accepting a call torch refuses.
            op(x, w, b, **{**kwargs, "padding": "same"})
        x = functional.pad(x, list(call.mode_pad[0]), mode=call.mode_pad[1])
    if call.pre_pad is not None:
        x = functional.pad(x, list(call.pre_pad))
    y = op(x, w, b, **kwargs)
    if check_layout is not None:
        check_layout(x, y)
    if call.crop is not None:
        lead = y.ndim - call.ndim  # (N, C) or, unbatched, (C,)
        y = y[(slice(None),) * lead + tuple(slice(lo, y.shape[lead + i] - hi) for i, (lo, hi) in enumerate(call.crop))]
    return y


def _conv(torch, config: ConvConfig, x, w, b, check_layout: bool = False):
    check = (lambda conv_input, y: check_output_layout(torch, config, conv_input, y)) if check_layout else None
    return run_conv_call(torch.nn.functional, conv_call(config), x, w, b, check_layout=check)


class OutputLayoutError(AssertionError):
    """torch broke its memory-format promise: a channels_last input gave an output that is not."""


def check_output_layout(torch, config: ConvConfig, x, y) -> None:
    """torch promises a channels_last output for a channels_last 4-d input (suggest_memory_format).

    Checked only where the promise is documented: batched 2-d convolutions (torch's channels_last
    tutorial) whose input torch sees as channels_last (a (N, 1, ...) or 1x1 tensor is both, so it
    promises nothing). Measured on torch 2.13 CPU: conv3d on a channels_last_3d input returns a
    contiguous output in float64 and in float32 with groups=1 (channels_last_3d with groups>1), so
    3-d has no promise to hold it to.
    """
    if config.memory_format != "channels_last" or not config.batched or config.ndim != 2 or y.numel() == 0:
        return
    form = torch.channels_last
    if x.is_contiguous(memory_format=form) and not x.is_contiguous() and not _channels_innermost(y):
        raise OutputLayoutError(
            f"torch returned an output with strides {tuple(y.stride())} for a channels_last input (strides "
            f"{tuple(x.stride())}): expected a channels_last output, as torch keeps an input's memory format")


def _channels_innermost(y) -> bool:
    """Strides in channels_last order (N, *spatial, C from outermost), ignoring axes of size 1 (a crop
    of a channels_last tensor keeps that order without being contiguous)."""
    order = [0, *range(2, y.ndim), 1]
    strides = [y.stride(axis) for axis in order if y.shape[axis] > 1]
    return all(a >= b for a, b in zip(strides, strides[1:]))


def tensor_with_strides(torch, array: np.ndarray, dtype, device: str):
    """A tensor with `array`'s values and strides (views, channels_last, stride 0 included), in `dtype`.

    torch.from_numpy keeps the strides; a dtype change (bfloat16 arrives as float32) makes a dense
    copy, so the view is rebuilt over a converted copy of the buffer it looks into.
    """
    import warnings

    with warnings.catch_warnings():  # read-only (stride-0) arrays: torch only reads them here
        warnings.simplefilter("ignore", UserWarning)
        tensor = torch.from_numpy(array)
    if tensor.dtype == dtype:
        return tensor.to(device=device)
    root = array
    while isinstance(getattr(root, "base", None), np.ndarray) or hasattr(getattr(root, "base", None), "base"):
        root = root.base
    if not (isinstance(root, np.ndarray) and root.flags.c_contiguous and root.dtype == array.dtype) or array.size == 0:
        return tensor.to(device=device, dtype=dtype)
    offset = array.__array_interface__["data"][0] - root.__array_interface__["data"][0]
    itemsize = array.itemsize
    buffer = torch.from_numpy(root.reshape(-1)).to(device=device, dtype=dtype)
    return torch.as_strided(buffer, array.shape, tuple(s // itemsize for s in array.strides), offset // itemsize)


class TorchAdapter(FrameworkAdapter):
    """torch.nn.functional convolutions on "cpu" or "cuda"; see the module docstring."""

    name = "torch"
    # nn.Conv*d's padding_mode is F.pad by the mode, then F.conv*d: what this adapter calls. The
    # functional API has no transposed form of it (nn.ConvTranspose*d refuses every mode but zeros;
    # that refusal is torch.nn's to test), so such a call, valid or not, is not made here.
    gaps = no_padding_modes("F.conv_transpose*d has no padding_mode (nn.ConvTranspose*d refuses all but 'zeros')",
                            ops=TRANSPOSED_OPS)

    # ---- declarations ----

    def gpu_unavailable_reason(self) -> str | None:
        return cuda_unavailable_reason()

    def arithmetic(self, config: ConvConfig, device: str = "cpu") -> Arithmetic:
        if config.dtype != "float32" or self.precision == "highest":
            return default_arithmetic(config.dtype)
        torch = _torch()
        if device == "cuda":
            if cuda_unavailable_reason(torch) is None and gpu_supports_tf32(torch):
                mode = conv_fp32_precision(torch, "cudnn")
                if mode in ("tf32", "unknown"):
                    note = "cuDNN TF32 allowed" if mode == "tf32" else "TF32 state unreadable (mixed APIs): assume TF32"
                    return Arithmetic(accumulation="float32", output="float32", operands="tfloat32", note=note)
            return default_arithmetic("float32")
        mode = conv_fp32_precision(torch, "mkldnn")
        if mode in ("tf32", "bf16"):
            operands = {"tf32": "tfloat32", "bf16": "bfloat16"}[mode]
            return Arithmetic(accumulation="float32", output="float32", operands=operands,
                              note=f"torch.backends.mkldnn fp32_precision={mode!r}")
        return default_arithmetic("float32")

    def versions(self) -> dict[str, str]:
        torch = _torch()
        found = {"torch": torch.__version__, "torch.version.cuda": str(torch.version.cuda)}
        if torch.backends.cudnn.is_available():
            found["cudnn"] = str(torch.backends.cudnn.version())
        return found

    def settings(self, device: str = "cpu") -> dict[str, object]:
        torch = _torch()
        found: dict[str, object] = {"adapter.precision": self.precision}
        for name in ("torch.backends.cudnn.allow_tf32", "torch.backends.cuda.matmul.allow_tf32"):
            try:
                found[name] = eval(name, {"torch": torch})  # noqa: S307 - fixed attribute paths
            except RuntimeError as err:  # torch raises when legacy and new APIs were mixed
                found[name] = f"unreadable: {err}".splitlines()[0][:120]
        generic = getattr(torch.backends, "fp32_precision", None)
        if isinstance(generic, str):
            found["torch.backends.fp32_precision"] = generic
        for backend, op in (("cudnn", None), ("mkldnn", None), *_FP32_KNOBS):
            knob = _knob(torch, backend, op)
            if knob is not None:
                found[f"torch.backends.{backend}{'.' + op if op else ''}.fp32_precision"] = knob.fp32_precision
        found["torch.backends.mkldnn.enabled"] = torch.backends.mkldnn.enabled
        found["torch.backends.cudnn.enabled"] = torch.backends.cudnn.enabled
        found["torch.get_float32_matmul_precision()"] = torch.get_float32_matmul_precision()
        if device == "cuda" and cuda_unavailable_reason(torch) is None:
            found["cuda.device"] = torch.cuda.get_device_name()
            found["cuda.capability"] = ".".join(map(str, torch.cuda.get_device_capability()))
        return found

    # ---- computation ----

    def _tensor(self, torch, array, config: ConvConfig, device: str, requires_grad: bool = False):
        dtype = getattr(torch, _TORCH_DTYPES[config.dtype])
        # bfloat16 arrives as bfloat16-exact float32 values: the cast is exact.
        # The harness's layout (config.memory_format) is handed over as it is: never made contiguous.
        tensor = tensor_with_strides(torch, np.asarray(array), dtype, device)
        return tensor.requires_grad_(requires_grad) if requires_grad else tensor

    @staticmethod
    def _numpy(torch, tensor, device: str) -> np.ndarray:
        if tensor.device.type != device:
            raise RuntimeError(f"torch computed on {tensor.device}, not on the requested device {device!r}")
        tensor = tensor.detach().cpu()
        if tensor.dtype == torch.bfloat16:  # NumPy has no bfloat16: return the exact float32 values
            tensor = tensor.float()
        return tensor.numpy()

    def _precision_context(self, torch):
        return full_fp32_precision(torch) if self.precision == "highest" else contextlib.nullcontext()

    def _check_device(self, device: str) -> None:
        reason = self.supports_device(device)
        if reason:
            raise RuntimeError(reason)

    def forward(self, config: ConvConfig, x, w, b=None, device: str = "cpu") -> np.ndarray:
        torch = _torch()
        self._check_device(device)
        with torch.no_grad(), self._precision_context(torch):
            xt, wt = self._tensor(torch, x, config, device), self._tensor(torch, w, config, device)
            bt = self._tensor(torch, b, config, device) if config.bias else None
            y = _conv(torch, config, xt, wt, bt, check_layout=True)
        return self._numpy(torch, y, device)

    def vjp(self, config: ConvConfig, x, w, b, grad_out, device: str = "cpu"):
        torch = _torch()
        self._check_device(device)
        with torch.enable_grad(), self._precision_context(torch):
            inputs = [self._tensor(torch, x, config, device, True), self._tensor(torch, w, config, device, True)]
            if config.bias:
                inputs.append(self._tensor(torch, b, config, device, True))
            y = _conv(torch, config, *inputs[:2], inputs[2] if config.bias else None)
            g = self._tensor(torch, grad_out, config, device)
            # materialize_grads: an empty batch leaves no path from some inputs; their gradient is 0.
            grads = torch.autograd.grad(y, inputs, grad_outputs=g, allow_unused=True, materialize_grads=True)
        grad_x, grad_w = self._numpy(torch, grads[0], device), self._numpy(torch, grads[1], device)
        grad_b = self._numpy(torch, grads[2], device) if config.bias else None
        return grad_x, grad_w, grad_b

    def jvp(self, config: ConvConfig, x, w, b, dx, dw, db, device: str = "cpu"):
        """Forward mode through torch.func.jvp."""
        torch = _torch()
        self._check_device(device)
        arrays = (x, w, b) if config.bias else (x, w)
        tangents = (dx, dw, db) if config.bias else (dx, dw)
        with self._precision_context(torch):
            primals = tuple(self._tensor(torch, a, config, device) for a in arrays)
            tangents = tuple(self._tensor(torch, t, config, device) for t in tangents)
            _, dy = torch.func.jvp(lambda *args: _conv(torch, config, args[0], args[1], args[2] if config.bias else None),
                                   primals, tangents)
        return self._numpy(torch, dy, device)

    def double_vjp(self, config: ConvConfig, x, w, b, grad_out, ggx, ggw, ggb, device: str = "cpu"):
        """Double backward: autograd.grad(create_graph=True), then autograd.grad of its results."""
        torch = _torch()
        self._check_device(device)
        with torch.enable_grad(), self._precision_context(torch):
            xt, wt = self._tensor(torch, x, config, device, True), self._tensor(torch, w, config, device, True)
            bt = self._tensor(torch, b, config, device, True) if config.bias else None
            gt = self._tensor(torch, grad_out, config, device, True)
            y = _conv(torch, config, xt, wt, bt)
            inputs = [xt, wt] + ([bt] if config.bias else [])
            first = torch.autograd.grad(y, inputs, grad_outputs=gt, create_graph=True, allow_unused=True,
                                        materialize_grads=True)
            cotangents = [self._tensor(torch, a, config, device) for a in ((ggx, ggw, ggb) if config.bias else (ggx, ggw))]
            second = torch.autograd.grad(first, [xt, wt, gt], grad_outputs=cotangents, allow_unused=True,
                                         materialize_grads=True)
        return tuple(self._numpy(torch, t, device) for t in second)

    @contextlib.contextmanager
    def deterministic(self):
        """torch.use_deterministic_algorithms(True), cuDNN deterministic and not benchmarking; restored after."""
        torch = _torch()
        saved = (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.deterministic,
                 torch.backends.cudnn.benchmark)
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
        try:
            yield
        finally:
            torch.use_deterministic_algorithms(saved[0])
            torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = saved[1], saved[2]
