"""JAX under jax.jit: the eager adapter's lax.conv_general_dilated / conv_transpose call, compiled.

The convolution is `references.jax.lax._conv_with_bias` and its `Layout` (the eager adapter's
translation and axis orders, unchanged; supports() is the eager adapter's too);
this module only wraps it, its VJP, its JVP and its double VJP in `jax.jit`, as a user who writes
`jax.jit(jax.grad(loss))` does. Layouts are the eager adapter's: x (N, C_in, *in), w (C_out, C_in/g,
*k) or (C_in, C_out/g, *k) when transposed, b (C_out,), NumPy in and out.

Compilation. Everything that decides shapes or padding (the whole ConvConfig) is static: it is
closed over by the traced function, so the jitted function's only arguments are arrays. One jitted
function is kept per (check kind, config, precision mode), in a bounded LRU cache, so a repeated call
(the harness repeats calls for determinism, shrinking replays configs) reuses the compiled
executable, and a new config compiles once. `compile_count()` says how many XLA compilations the
cached functions hold (their own `_cache_size()`), for tests and benchmarks.
"""

from __future__ import annotations

from collections import OrderedDict

from references.jax import lax as eager
from references.jax.lax import JaxAdapter

__all__ = ["JaxJitAdapter"]


class JaxJitAdapter(JaxAdapter):
    """references.jax.lax's JAX calls under jax.jit, one compilation per (check kind, config)."""

    name = "jax.jit"
    # One compilation per new example (0.15 s cold). 15 a test: more than the ~14 it ran before the
    # capability declarations, when 28% of its draws were refused (benchmarks/README.md, issue #32).
    max_ci_examples = 15

    def __init__(self, precision: str = "default", cache_size: int = 128) -> None:
        super().__init__(precision)
        self.cache_size = cache_size
        self._jitted: OrderedDict = OrderedDict()

    def settings(self, device: str = "cpu") -> dict[str, object]:
        found = super().settings(device)
        found["jax.jit"] = "one jitted function per (check kind, config); the config is static (closure)"
        return found

    def compile_count(self) -> int:
        """XLA executables held by the cached jitted functions (a repeated call adds none)."""
        return sum(function._cache_size() for function in self._jitted.values())

    # ---- the jitted functions -------------------------------------------------------------------

    def _jit(self, jax, kind: str, config, precision, layout, build):
        """The jitted `build(conv)` for this (kind, config, precision mode), built once."""
        key = (kind, config, self.precision)
        function = self._jitted.get(key)
        if function is None:
            function = jax.jit(build(eager._conv_with_bias(jax, config, precision, layout)))
            self._jitted[key] = function
            while len(self._jitted) > self.cache_size:
                self._jitted.popitem(last=False)
        else:
            self._jitted.move_to_end(key)
        return function

    def forward(self, config, x, w, b=None, device: str = "cpu"):
        jax, target, precision = self._setup(device)
        layout = eager.Layout(config)
        with self._x64(jax, config):
            conv = self._jit(jax, "forward", config, precision, layout, lambda conv: conv)
            y = conv(*self._arrays(jax, config, layout, target, x, w, b))
            return layout.from_xla(self._numpy(y, target), "activation")

    def vjp(self, config, x, w, b, grad_out, device: str = "cpu"):
        jax, target, precision = self._setup(device)
        layout = eager.Layout(config)

        def build(conv):
            def pullback(g, *primals):
                return jax.vjp(conv, *primals)[1](g)
            return pullback

        with self._x64(jax, config):
            pullback = self._jit(jax, "vjp", config, precision, layout, build)
            g = self._array(jax, layout.to_xla(grad_out, "activation"), config, target)
            grads = pullback(g, *self._arrays(jax, config, layout, target, x, w, b))
            grads = [self._numpy(g, target) for g in grads]
        return (layout.from_xla(grads[0], "activation"), layout.from_xla(grads[1], "weight"),
                grads[2] if config.bias else None)

    def jvp(self, config, x, w, b, dx, dw, db, device: str = "cpu"):
        jax, target, precision = self._setup(device)
        layout = eager.Layout(config)

        def build(conv):
            def tangent_out(primals, tangents):
                return jax.jvp(conv, primals, tangents)[1]
            return tangent_out

        with self._x64(jax, config):
            tangent_out = self._jit(jax, "jvp", config, precision, layout, build)
            primals = tuple(self._arrays(jax, config, layout, target, x, w, b))
            tangents = tuple(self._arrays(jax, config, layout, target, dx, dw, db))
            return layout.from_xla(self._numpy(tangent_out(primals, tangents), target), "activation")

    def double_vjp(self, config, x, w, b, grad_out, ggx, ggw, ggb, device: str = "cpu"):
        jax, target, precision = self._setup(device)
        layout = eager.Layout(config)

        def build(conv):
            def second(g, primals, cotangents):
                def first_vjp(g, *primals):
                    return jax.vjp(conv, *primals)[1](g)
                _, pullback = jax.vjp(first_vjp, g, *primals)
                return pullback(cotangents)[:3]  # (g_bar, x_bar, w_bar)
            return second

        with self._x64(jax, config):
            second = self._jit(jax, "double_vjp", config, precision, layout, build)
            g = self._array(jax, layout.to_xla(grad_out, "activation"), config, target)
            g_bar, x_bar, w_bar = second(g, tuple(self._arrays(jax, config, layout, target, x, w, b)),
                                         tuple(self._arrays(jax, config, layout, target, ggx, ggw, ggb)))
            return (layout.from_xla(self._numpy(x_bar, target), "activation"),
                    layout.from_xla(self._numpy(w_bar, target), "weight"),
                    layout.from_xla(self._numpy(g_bar, target), "activation"))
