"""Planted implementations that answer with the wrong kind of value, for tests/test_reliability.py.

Load with `--impl tests.planted_bad_returns:NAME`. Each is the naive reference with its answer
spoiled in one way; the harness must record a finding (an `error` or a `shape` mismatch), never
crash on it.

- returns_text: forward and vjp return a string instead of arrays.
- wrong_shape: forward drops the last output position of the last spatial dim; vjp does the
  same to grad_input.
- slow: correct, but each call sleeps SLOW_CALL_SECONDS (something to interrupt mid-call).
"""

from __future__ import annotations

import time

import numpy as np

from conformance import Implementation
from conformance.dtypes import to_storage
from references.numpy.naive import NaiveReference

__all__ = ["SLOW_CALL_SECONDS", "returns_text", "wrong_shape", "slow"]

SLOW_CALL_SECONDS = 0.3

_naive = NaiveReference()


class _Spoiled(Implementation):
    """The naive reference, answers passed through `spoil(answer)` and cast to the storage dtype."""

    def __init__(self, name, spoil_forward, spoil_vjp, delay=0.0):
        self.name = name
        self._spoil_forward = spoil_forward
        self._spoil_vjp = spoil_vjp
        self._delay = delay

    def forward(self, config, x, w, b=None, device="cpu"):
        time.sleep(self._delay)
        y = to_storage(np.asarray(_naive.forward(config, x, w, b), np.float64), config.dtype)
        return self._spoil_forward(y)

    def vjp(self, config, x, w, b, grad_out, device="cpu"):
        time.sleep(self._delay)
        grads = tuple(None if g is None else to_storage(np.asarray(g, np.float64), config.dtype)
                      for g in _naive.vjp(config, x, w, b, grad_out))
        return self._spoil_vjp(grads)


def _drop_last_position(array):
    return array[..., :-1]


def returns_text():
    return _Spoiled("returns_text", lambda y: "done", lambda grads: "done")


def wrong_shape():
    return _Spoiled("wrong_shape", _drop_last_position,
                    lambda grads: (_drop_last_position(grads[0]),) + grads[1:])


def slow():
    return _Spoiled("slow", lambda y: y, lambda grads: grads, delay=SLOW_CALL_SECONDS)
