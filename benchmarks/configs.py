"""The fixed config sets the benchmarks measure on: drawn once per op family with a fixed seed, plus "medium".

The drawn sets use the suite's own strategy (conformance.strategies.conv_cases, default size budget),
so they have the suite's mix of shapes, dtypes and value profiles. A fixed Hypothesis seed with no
example database makes the draw the same on every run of the same Hypothesis version (the version is
recorded next to the numbers).

- `MEDIUM`: N=4, C=32->32, 32x32, 3x3, padding 1, float64 (the issue's "medium" config);
  `MEDIUM_TRANSPOSED` is the same call transposed.
- `fixed_cases(per_family=..., seed=...)`: {op family: [ConvCase, ...]}.
"""

from __future__ import annotations

from hypothesis import HealthCheck, Phase, given, seed, settings

from conformance.config import ConvConfig
from conformance.strategies import OP_FAMILIES, ConvCase, conv_cases

__all__ = ["MEDIUM", "MEDIUM_TRANSPOSED", "SEED", "fixed_cases", "as_float64"]

SEED = 20261122

MEDIUM = ConvConfig(ndim=2, batch=4, in_channels=32, out_channels=32, in_size=(32, 32), kernel=(3, 3),
                    padding=1, dtype="float64")
MEDIUM_TRANSPOSED = MEDIUM.replace(transposed=True)


def _draw(op: str, count: int, draw_seed: int) -> list[ConvCase]:
    collected: list[ConvCase] = []

    @seed(draw_seed)
    @settings(max_examples=4 * count, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(conv_cases(op=op))
    def collect(case):
        # Hypothesis may draw the same case twice; keep distinct ones, in draw order.
        if len(collected) < count and case not in collected:
            collected.append(case)

    collect()
    return collected


def fixed_cases(*, per_family: int = 24, seed: int = SEED) -> dict[str, list[ConvCase]]:
    """`per_family` distinct ConvCases per op family, the same on every call with the same seed."""
    return {op: _draw(op, per_family, seed + index) for index, op in enumerate(OP_FAMILIES)}


def as_float64(case: ConvCase) -> ConvCase:
    """The same case in float64 (the reference-vs-torch timing is a float64 comparison)."""
    return ConvCase(case.config.replace(dtype="float64"), case.data_seed, case.value_profile)
