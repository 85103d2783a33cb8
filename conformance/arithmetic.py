"""What arithmetic an implementation really used for a call: the input to the error bound.

An implementation declares, per config and device, an `Arithmetic`:
- operands: the format the operands are rounded to before multiplying (None: products exact in
  the accumulator, e.g. float16 x float16 in float32; "tfloat32" on GPUs with TF32 enabled);
- accumulation: the format the dot products are summed in;
- output: the format of the stored result.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

__all__ = ["Arithmetic", "default_arithmetic", "FLOAT64"]


@dataclass(frozen=True)
class Arithmetic:
    accumulation: str
    output: str
    operands: str | None = None
    note: str = ""

    @property
    def label(self) -> str:
        text = self.output if self.accumulation == self.output else f"{self.output} (accumulate {self.accumulation})"
        if self.operands:
            text += f", operands rounded to {self.operands}"
        return text

    def to_dict(self) -> dict:
        data = asdict(self)
        data["label"] = self.label
        return data


FLOAT64 = Arithmetic(accumulation="float64", output="float64")


def default_arithmetic(dtype: str) -> Arithmetic:
    """The arithmetic a careful implementation uses: half formats accumulate in float32."""
    if dtype in ("float16", "bfloat16"):
        return Arithmetic(accumulation="float32", output=dtype)
    return Arithmetic(accumulation=dtype, output=dtype)
