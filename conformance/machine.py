"""Facts about the machine a run is on, read without importing any framework.

Some kernels are right or wrong, and some calls run or are refused, only on some instruction sets:
TensorFlow turns its oneDNN kernels on by default only on CPUs with neural-network features, torch's
oneDNN takes bfloat16 only with AVX-512, and so on. Gaps (conformance.capabilities.Gap.machine) and
known divergences (`when` keys cpu_has, cpu_lacks, tf_onednn, versions) name these facts, so that a
declaration holds on the machines where it was measured and nowhere else.

- `cpu_flags()`: the CPU's feature flags as the kernel reports them (/proc/cpuinfo "flags" on x86,
  "Features" on ARM), lower case, e.g. "avx512f", "avx512_bf16", "amx_tile"; empty where unknown.
- `tf_onednn(environment)`: whether TensorFlow runs its oneDNN CPU kernels in a process with that
  environment: TF_ENABLE_ONEDNN_OPTS when it is set, else TensorFlow's own default on Linux
  (DefaultOneDnnPolicy in tensorflow/core/util/util.cc: on when the CPU has AVX512_VNNI,
  AVX512_BF16, AVX_VNNI or AMX; off on an AVX2-only x86, measured on an AMD EPYC 7003, 2026-12-07).
- `tf_onednn_takes(dtype, environment)`: whether TensorFlow's oneDNN kernels take `dtype` there
  (IsDataTypeSupportedByOneDNNOnThisCPU in tensorflow/core/util/util.cc: float32 always, bfloat16
  with AVX512F or AVX_NE_CONVERT, float16 with AVX512BW and AVX512_FP16 or AMX_FP16, or
  AVX_NE_CONVERT; float64 never). The other dtypes go to TF's own (Eigen) kernels, which refuse more
  calls and sum half formats in the half format.
- `library_version(name)`: an installed distribution's version (importlib.metadata), or None.
- `MACHINE_CONDITIONS`: the named conditions a Gap's `machine` field may give.
"""

from __future__ import annotations

import os
import platform
import re
from functools import lru_cache
from importlib import metadata
from typing import Callable, Mapping

__all__ = ["cpu_flags", "cpu_model", "tf_onednn", "library_version", "version_in", "MACHINE_CONDITIONS",
           "machine_condition", "TF_ONEDNN_FLAGS", "tf_onednn_takes"]

# The CPU features that make TensorFlow turn oneDNN on by default on Linux (util.cc, DefaultOneDnnPolicy).
TF_ONEDNN_FLAGS = ("avx512_vnni", "avx512_bf16", "avx_vnni", "amx_tile", "amx_int8", "amx_bf16")


@lru_cache(maxsize=1)
def _cpuinfo() -> tuple[str, tuple[str, ...]]:
    model, flags = "", ()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name" and not model:
                    model = value.strip()
                elif key in ("flags", "Features") and not flags:
                    flags = tuple(sorted(value.lower().split()))
                if model and flags:
                    break
    except OSError:
        pass
    return model or platform.processor(), flags


def cpu_model() -> str:
    """The processor's name ("AMD EPYC 7B13", ...), or platform.processor() where /proc/cpuinfo is absent."""
    return _cpuinfo()[0]


def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags, lower case (empty where the OS does not report them)."""
    return frozenset(_cpuinfo()[1])


def tf_onednn(environment: Mapping[str, str] | None = None) -> bool:
    """Whether TensorFlow uses oneDNN on CPU in a process with `environment` (os.environ by default)."""
    setting = (os.environ if environment is None else environment).get("TF_ENABLE_ONEDNN_OPTS")
    if setting is not None and setting.strip():
        return setting.strip().lower() not in ("0", "false")
    if platform.system() != "Linux":
        return platform.system() == "Windows" and platform.machine().lower() in ("amd64", "x86_64")
    return bool(cpu_flags() & set(TF_ONEDNN_FLAGS))


def tf_onednn_takes(dtype: str, environment: Mapping[str, str] | None = None) -> bool:
    """Whether TensorFlow's oneDNN CPU kernels take `dtype` in a process with `environment`."""
    if not tf_onednn(environment):
        return False
    flags = cpu_flags()
    return {"float32": True,
            "bfloat16": bool(flags & {"avx512f", "avx_ne_convert"}),
            "float16": ("avx512bw" in flags and bool(flags & {"avx512_fp16", "amx_fp16"})) or "avx_ne_convert" in flags,
            }.get(dtype, False)


def library_version(name: str) -> str | None:
    """The installed version of distribution `name` ("torch", "tensorflow-cpu", ...), or None."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _release(text: str) -> tuple[int, ...]:
    """(2, 13, 0) for "2.13.0+cpu": the numeric release, local and pre-release tags dropped."""
    numbers = re.match(r"\d+(\.\d+)*", text.strip())
    if numbers is None:
        raise ValueError(f"{text!r} is not a version such as 2.13 or 2.13.0")
    return tuple(int(part) for part in numbers.group(0).split("."))


_COMPARE: dict[str, Callable[[tuple, tuple], bool]] = {
    ">=": lambda a, b: a >= b, "<=": lambda a, b: a <= b, "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b, ">": lambda a, b: a > b, "<": lambda a, b: a < b,
}


def version_in(version: str, specifier: str) -> bool:
    """Whether `version` satisfies every clause of `specifier`, e.g. ">=2.13,<2.15" (versions compare by
    their numeric release, padded with zeros: "2.13" == "2.13.0"). Raises ValueError for a bad clause."""
    have = _release(version)
    for clause in specifier.split(","):
        clause = clause.strip()
        op = next((o for o in (">=", "<=", "==", "!=", ">", "<") if clause.startswith(o)), None)
        if op is None:
            raise ValueError(f"version clause {clause!r}: start it with one of >=, <=, ==, !=, >, <")
        want = _release(clause[len(op):])
        width = max(len(have), len(want))
        if not _COMPARE[op](have + (0,) * (width - len(have)), want + (0,) * (width - len(want))):
            return False
    return True


# Named machine conditions of a dtype: a Gap holds only where its `machine` condition does for the
# dtype (its witness runs there). (words shown in the capability tables, predicate of the dtype)
MACHINE_CONDITIONS: dict[str, tuple[str, Callable[[str], bool]]] = {
    # float64; float16 without AVX512-FP16; bfloat16 without AVX-512; every dtype where oneDNN is off
    "tf_eigen": ("where TensorFlow's CPU kernel for the dtype is Eigen's, not oneDNN's",
                 lambda dtype: not tf_onednn_takes(dtype)),
}


def machine_condition(name: str, dtype: str) -> bool:
    """Whether the named condition (a key of MACHINE_CONDITIONS) holds on this machine for `dtype`."""
    try:
        predicate = MACHINE_CONDITIONS[name][1]
    except KeyError:
        raise ValueError(f"machine condition {name!r} is not one of {sorted(MACHINE_CONDITIONS)}") from None
    return predicate(dtype)
