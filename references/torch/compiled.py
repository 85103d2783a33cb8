"""PyTorch under torch.compile: the functional convolution (as in references/torch/functional.py)
compiled with torch.compile(fullgraph=True) by Inductor; gradients by autograd through the compiled
function (AOTAutograd's compiled backward).

A compiled path is worth testing only if the compiled graph really ran. Dynamo falls back to eager
silently after its recompile limit (torch._dynamo.config.recompile_limit, 8) and at graph breaks;
so here:
- every new (config, device) starts from torch._dynamo.reset(): each config is compiled as a fresh
  process compiling it first would (static shapes, no "automatic dynamic" graph left by earlier
  examples), so a failure replays in a new process, and the recompile limit is never approached by
  the stream of shapes a Hypothesis run draws (one config meets at most a few grad-mode and
  deterministic-mode variants). Repeat calls on the same config reuse its graphs.
- fullgraph=True turns a graph break into an error, and the recompile limit into
  FailOnRecompileLimitHit, which is raised as CompileFallback ("torch.compile fell back to eager").
- each call runs under the profiler (CPU activity only, ~1 ms) and must show Dynamo's own
  "Torch-Compiled Region" event and an Inductor graph call ("## Call CompiledFxGraph ..."), and for a
  VJP the compiled backward ("CompiledFunctionBackward"); torch._dynamo.utils.counters must show no
  graph break. Anything less raises CompileFallback, which the harness records as an error.
  `last_call` keeps what was seen (new graphs compiled, events), for benchmarks and tests.

Check kinds: forward and vjp compiled; jvp as torch.func.jvp inside the compiled function (the form
torch.compile supports; torch.func.jvp of a compiled function raises "Calling torch.func.jvp
(compiled_fn) function from eager mode is not supported"); double_vjp is declared unsupported with
torch's own refusal (measured: "torch.compile with aot_autograd does not currently support double
backward").

"torch.compile.max_autotune" is the same with mode="max-autotune" (Triton convolution templates and
CUDA graphs), CUDA only.
"""

from __future__ import annotations

import numpy as np

from conformance.capabilities import Gap
from conformance.config import ConvConfig
from references.torch.functional import TorchAdapter, _torch, conv_call, run_conv_call

__all__ = ["CompileFallback", "TorchCompileAdapter", "TorchCompileMaxAutotune", "DOUBLE_BACKWARD_REFUSAL"]

# torch 2.13's RuntimeError when differentiating a compiled function's gradient (create_graph=True
# through AOTAutograd); tests/test_adapter_torch_paths.py proves torch still raises it.
DOUBLE_BACKWARD_REFUSAL = "torch.compile with aot_autograd does not currently support double backward"

COMPILED_REGION = "Torch-Compiled Region"  # Dynamo's profiler range around a compiled frame
INDUCTOR_GRAPH = "## Call CompiledFxGraph"  # Inductor's profiler range around its generated code
COMPILED_BACKWARD = "CompiledFunctionBackward"  # AOTAutograd's backward node


class CompileFallback(RuntimeError):
    """torch.compile ran (or would have run) this call eagerly instead of through a compiled graph."""


def _event_names(prof) -> set[str]:
    """The names of the events a finished torch.profiler.profile recorded, read from its raw Kineto
    results. prof.events() would build the FunctionEvent tree of every event first, and a call that
    compiles records thousands (Dynamo's tracing, Inductor's codegen): ~0.1 s a call, a tenth of a
    new config's compile time. prof.events() where this torch keeps no raw results."""
    results = getattr(getattr(prof, "profiler", None), "kineto_results", None)
    if results is None:
        return {event.name for event in prof.events()}
    return {event.name() for event in results.events()}


class TorchCompileAdapter(TorchAdapter):
    """F.conv* / conv_transpose* under torch.compile(fullgraph=True) on "cpu" or "cuda"; see the module docstring."""

    name = "torch.compile"
    mode: str | None = None  # torch.compile's `mode`; None is its default
    # A new shape costs seconds of compilation (benchmarks/compiled_paths.py): fewer examples in ci.
    max_ci_examples = 20
    # Measured: torch refuses a second derivative through aot_autograd (DOUBLE_BACKWARD_REFUSAL), so
    # the adapter does not make the call.
    gaps = (*TorchAdapter.gaps,
            Gap("*", f"double backward refused by torch: {DOUBLE_BACKWARD_REFUSAL!r}", checks=("double_vjp",)))

    def __init__(self, precision: str = "default") -> None:
        super().__init__(precision)
        self._key = None
        self._compiled: dict[str, object] = {}
        self.last_call: dict[str, object] = {}

    # ---- declarations ----

    def supports(self, config: ConvConfig, device: str = "cpu") -> str | None:
        return self.supports_device(device)

    def supports_device(self, device: str) -> str | None:
        if device not in self.devices:
            only = " and ".join(d.upper() if d == "cuda" else d for d in self.devices)
            return f"{self.name}: {only} only; this run's device is {device}"
        return super().supports_device(device)

    def settings(self, device: str = "cpu") -> dict[str, object]:
        torch = _torch()
        found = {"adapter.call": f"torch.compile(fullgraph=True, mode={self.mode!r}) of F.conv*",
                 **super().settings(device)}
        for name in ("recompile_limit", "automatic_dynamic_shapes", "suppress_errors"):
            found[f"torch._dynamo.config.{name}"] = getattr(torch._dynamo.config, name, None)
        found["torch._inductor.config.max_autotune"] = torch._inductor.config.max_autotune
        return found

    def double_vjp(self, config, x, w, b, grad_out, ggx, ggw, ggb, device="cpu"):
        raise NotImplementedError(f"{self.name}: double backward refused by torch: {DOUBLE_BACKWARD_REFUSAL!r}")

    # ---- compilation ----

    def _functions(self, torch, config: ConvConfig, device: str) -> dict[str, object]:
        """The compiled functions of (config, device), compiled afresh after torch._dynamo.reset() for a new one."""
        key = (config, device)
        if key != self._key:
            torch._dynamo.reset()

            # Dynamo traces only the F.* calls worked out for this config (plain values), not the
            # harness's ConvConfig logic: fewer bytecodes to trace and guards to build per config.
            call, functional = conv_call(config), torch.nn.functional

            def conv(x, w, b):
                return run_conv_call(functional, call, x, w, b)

            def conv_of_primals(*primals):
                return conv(primals[0], primals[1], primals[2] if config.bias else None)

            def conv_jvp(primals, tangents):
                return torch.func.jvp(conv_of_primals, primals, tangents)[1]

            self._compiled = {
                "conv": torch.compile(conv, fullgraph=True, mode=self.mode),
                "jvp": torch.compile(conv_jvp, fullgraph=True, mode=self.mode),
            }
            self._key = key
        return self._compiled

    def _run_compiled(self, torch, run, *, backward: bool = False):
        """run() under the profiler; CompileFallback unless a compiled graph (and backward) ran for it."""
        import torch._dynamo.exc as dynamo_exc
        from torch._dynamo.utils import counters

        graphs_before = counters["stats"]["unique_graphs"]
        breaks_before = sum(counters["graph_break"].values())
        limit = getattr(torch._dynamo.config, "recompile_limit", None)
        activities = [torch.profiler.ProfilerActivity.CPU]
        try:
            with torch._dynamo.config.patch(suppress_errors=False), torch.profiler.profile(activities=activities) as prof:
                result = run()
        except dynamo_exc.FailOnRecompileLimitHit as err:
            raise CompileFallback(
                f"torch.compile fell back to eager: Dynamo hit its recompile limit "
                f"(torch._dynamo.config.recompile_limit={limit}) for this function; fullgraph=True made the "
                f"fallback an error: {str(err).splitlines()[0]}") from err
        names = {name.split(":")[0] if name.startswith(COMPILED_REGION) else name for name in _event_names(prof)}
        seen = {
            "compiled region": COMPILED_REGION in names,
            "inductor graph": any(name.startswith(INDUCTOR_GRAPH) for name in names),
        }
        if backward:
            seen["compiled backward"] = any(COMPILED_BACKWARD in name for name in names)
        graph_breaks = sum(counters["graph_break"].values()) - breaks_before
        self.last_call = {"new_graphs": counters["stats"]["unique_graphs"] - graphs_before,
                          "graph_breaks": graph_breaks, **seen}
        missing = [what for what, ran in seen.items() if not ran]
        if missing or graph_breaks:
            raise CompileFallback(
                f"torch.compile fell back to eager: no {' / '.join(missing) or 'single graph'} ran for this call "
                f"(profiler events {COMPILED_REGION!r}, {INDUCTOR_GRAPH!r}"
                f"{', ' + repr(COMPILED_BACKWARD) if backward else ''} expected; {graph_breaks} graph breaks; "
                f"torch._dynamo.utils.counters['stats']={dict(counters['stats'])})")
        return result

    # ---- computation ----

    def forward(self, config: ConvConfig, x, w, b=None, device: str = "cpu") -> np.ndarray:
        torch = _torch()
        self._check_device(device)
        with torch.no_grad(), self._precision_context(torch):
            conv = self._functions(torch, config, device)["conv"]
            xt, wt = self._tensor(torch, x, config, device), self._tensor(torch, w, config, device)
            bt = self._tensor(torch, b, config, device) if config.bias else None
            y = self._run_compiled(torch, lambda: conv(xt, wt, bt))
        return self._numpy(torch, y, device)

    def vjp(self, config: ConvConfig, x, w, b, grad_out, device: str = "cpu"):
        torch = _torch()
        self._check_device(device)
        with torch.enable_grad(), self._precision_context(torch):
            conv = self._functions(torch, config, device)["conv"]
            inputs = [self._tensor(torch, x, config, device, True), self._tensor(torch, w, config, device, True)]
            if config.bias:
                inputs.append(self._tensor(torch, b, config, device, True))
            g = self._tensor(torch, grad_out, config, device)

            def run():
                y = conv(inputs[0], inputs[1], inputs[2] if config.bias else None)
                return torch.autograd.grad(y, inputs, grad_outputs=g, allow_unused=True, materialize_grads=True)

            grads = self._run_compiled(torch, run, backward=True)
        grad_b = self._numpy(torch, grads[2], device) if config.bias else None
        return self._numpy(torch, grads[0], device), self._numpy(torch, grads[1], device), grad_b

    def jvp(self, config: ConvConfig, x, w, b, dx, dw, db, device: str = "cpu"):
        """torch.func.jvp of the convolution, inside the compiled function."""
        torch = _torch()
        self._check_device(device)
        arrays = (x, w, b) if config.bias else (x, w)
        tangent_arrays = (dx, dw, db) if config.bias else (dx, dw)
        with self._precision_context(torch):
            conv_jvp = self._functions(torch, config, device)["jvp"]
            primals = tuple(self._tensor(torch, a, config, device) for a in arrays)
            tangents = tuple(self._tensor(torch, t, config, device) for t in tangent_arrays)
            dy = self._run_compiled(torch, lambda: conv_jvp(primals, tangents))
        return self._numpy(torch, dy, device)


class TorchCompileMaxAutotune(TorchCompileAdapter):
    """torch.compile(fullgraph=True, mode="max-autotune"): Triton templates and CUDA graphs, CUDA only."""

    name = "torch.compile.max_autotune"
    mode = "max-autotune"
    devices = ("cuda",)
