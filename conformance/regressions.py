"""The regression corpus: known upstream convolution bugs as explicit examples (conformance/regressions.toml).

Each entry names its upstream thread, the implementations it applies to, the op and check kind, the
config (ConvConfig.to_dict() fields), the data (a seed and value profile, or explicit `values` such as
"ones"), the symptom the thread reports, the CPU features it needs, and whether it reproduces on the
versions pinned here. `load_regressions()` validates every field and raises RegressionError naming
the entry and the field; it imports no framework.

>>> corpus = load_regressions()
>>> [entry.id for entry in corpus if entry.applies_to("jax.jit")]
['jax-32267']
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from .checks import CHECK_KINDS
from .config import DTYPES, ConvConfig, InvalidConfig
from .known import is_upstream_url
from .strategies import VALUE_PROFILES

__all__ = ["RegressionEntry", "RegressionError", "load_regressions", "DEFAULT_PATH", "IMPLEMENTATION_NAMES",
           "EXPLICIT_VALUES"]

DEFAULT_PATH = Path(__file__).with_name("regressions.toml")
# Names of implementations, built or being built; an entry naming another one is a typo.
IMPLEMENTATION_NAMES = ("torch", "torch.onednn_off", "jax", "jax.jit", "tensorflow", "keras.torch", "onnxruntime")
EXPLICIT_VALUES = ("ones",)  # inputs, weights and cotangents all 1
DEVICES = ("cpu", "cuda")
_REQUIRED = ("id", "upstream", "title", "implementations", "op", "check", "dtype", "config", "symptom",
             "cpu_features", "reproduces_here", "note")


class RegressionError(ValueError):
    """A malformed entry of the regression corpus."""


@dataclass(frozen=True)
class RegressionEntry:
    """One known upstream bug as an explicit example.

    - config: the ConvConfig (built unchecked when `config_valid` is False: an invalid call on purpose,
      whose broken validity rule is `rule`).
    - seed / value_profile: the data, unless `values` ("ones") gives it explicitly.
    """

    id: str
    upstream: str
    title: str
    implementations: tuple[str, ...]
    op: str
    check: str
    dtype: str
    config: ConvConfig
    symptom: str
    cpu_features: tuple[str, ...]
    reproduces_here: bool
    note: str
    config_valid: bool = True
    rule: str | None = None
    seed: int | None = None
    value_profile: str | None = None
    values: str | None = None
    memory_format: str = "contiguous"
    device: str = "cpu"

    def applies_to(self, implementation_name: str) -> bool:
        """Whether this bug concerns `implementation_name` (a name from IMPLEMENTATION_NAMES)."""
        return implementation_name in self.implementations


def _fail(where: str, name: str, message: str) -> RegressionError:
    return RegressionError(f"{where}: field {name!r} {message}")


def _string(raw: dict, name: str, where: str, choices: tuple[str, ...] | None = None) -> str:
    value = raw[name]
    if not isinstance(value, str) or not value:
        raise _fail(where, name, f"= {value!r} must be a non-empty string")
    if choices is not None and value not in choices:
        raise _fail(where, name, f"= {value!r} must be one of {choices}")
    return value


def _strings(raw: dict, name: str, where: str, choices: tuple[str, ...] | None = None) -> tuple[str, ...]:
    value = raw[name]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise _fail(where, name, f"= {value!r} must be a list of strings")
    for item in value:
        if choices is not None and item not in choices:
            raise _fail(where, name, f"contains {item!r}, not one of {choices}")
    return tuple(value)


def _entry(raw: dict, where: str) -> RegressionEntry:
    for name in _REQUIRED:
        if name not in raw:
            raise _fail(where, name, "is missing")
    unknown = sorted(set(raw) - set(_REQUIRED) - {"config_valid", "rule", "seed", "value_profile", "values",
                                                  "memory_format", "device"})
    if unknown:
        raise RegressionError(f"{where}: unknown field(s) {unknown}")
    upstream = _string(raw, "upstream", where)
    if not is_upstream_url(upstream):
        raise _fail(where, "upstream", f"= {upstream!r} must be https://github.com/<org>/<repo>/issues/N or /pull/N")
    implementations = _strings(raw, "implementations", where, IMPLEMENTATION_NAMES)
    if not implementations:
        raise _fail(where, "implementations", "is empty; name at least one implementation")
    check = _string(raw, "check", where, tuple(CHECK_KINDS))
    dtype = _string(raw, "dtype", where, DTYPES)
    for name in ("reproduces_here", "config_valid"):
        if name in raw and not isinstance(raw[name], bool):
            raise _fail(where, name, f"= {raw[name]!r} must be true or false")
    config_valid = raw.get("config_valid", True)
    fields = raw["config"]
    if not isinstance(fields, dict):
        raise _fail(where, "config", f"= {fields!r} must be a table of ConvConfig fields")
    try:
        config = ConvConfig.from_dict(fields) if config_valid else ConvConfig.unchecked(**fields)
    except (InvalidConfig, TypeError) as err:
        raise _fail(where, "config", f"is not a valid ConvConfig: {err}") from None
    if not config_valid:
        if not config.broken_rules():
            raise _fail(where, "config_valid", "is false but the config breaks no validity rule; drop config_valid")
        if "rule" not in raw:
            raise _fail(where, "rule", "is missing: an invalid config names the validity rule it breaks")
    if config.dtype != dtype:
        raise _fail(where, "dtype", f"= {dtype!r} differs from config.dtype = {config.dtype!r}")
    op = _string(raw, "op", where)
    if op != config.op_name:
        raise _fail(where, "op", f"= {op!r} but the config describes {config.op_name!r}")
    values = raw.get("values")
    if values is not None and values not in EXPLICIT_VALUES:
        raise _fail(where, "values", f"= {values!r} must be one of {EXPLICIT_VALUES}")
    if values is None and ("seed" not in raw or "value_profile" not in raw):
        raise _fail(where, "seed", "and value_profile are needed unless `values` gives the data explicitly")
    seed = raw.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32):
        raise _fail(where, "seed", f"= {seed!r} must be an int in [0, 2**32)")
    profile = raw.get("value_profile")
    if profile is not None and profile not in VALUE_PROFILES:
        raise _fail(where, "value_profile", f"= {profile!r} must be one of {VALUE_PROFILES}")
    return RegressionEntry(
        id=_string(raw, "id", where), upstream=upstream, title=_string(raw, "title", where),
        implementations=implementations, op=op, check=check, dtype=dtype, config=config,
        symptom=_string(raw, "symptom", where), cpu_features=_strings(raw, "cpu_features", where),
        reproduces_here=raw["reproduces_here"], note=_string(raw, "note", where), config_valid=config_valid,
        rule=raw.get("rule"), seed=seed, value_profile=profile, values=values,
        memory_format=_string(raw, "memory_format", where, ("contiguous", "channels_last", "strided"))
        if "memory_format" in raw else "contiguous",
        device=_string(raw, "device", where, DEVICES) if "device" in raw else "cpu",
    )


def load_regressions(path: str | Path = DEFAULT_PATH) -> list[RegressionEntry]:
    """The entries of the corpus at `path`, in file order.

    Raises RegressionError naming the entry and the field when one is malformed, and for duplicate ids.
    """
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise RegressionError(f"{path}: not valid TOML: {err}") from None
    entries: list[RegressionEntry] = []
    for number, raw in enumerate(data.get("regression", []), start=1):
        where = f"{path.name} entry {number} ({raw.get('id', 'no id')})"
        entry = _entry(raw, where)
        if any(e.id == entry.id for e in entries):
            raise RegressionError(f"{where}: duplicate id {entry.id!r}")
        entries.append(entry)
    return entries
