"""The worker process behind conformance.isolation: serves one implementation's calls over pipes.

Run as `python -m conformance.worker SPEC PRECISION`. Frames are a 4-byte big-endian length and a
pickle: requests (method, args, kwargs); replies ("ok", value) or ("raise", type, message, traceback, origin)
(origin: conformance.origin.refusal_origin; a load failure has none).
A crash of the implementation ends this process, which the parent records as a `crash`.
"""

from __future__ import annotations

import os
import pickle
import struct
import sys
import traceback

from conformance.origin import refusal_origin

__all__ = ["read_frame", "write_frame", "serve", "DECLARATION_RAISED"]

# The first item of a `harness:evaluate` answer whose declarations (capability, arithmetic) raised,
# as opposed to its call: a missing framework shows there first, and is "not installed", not an error.
DECLARATION_RAISED = "declaration raised"


def read_frame(stream):
    header = stream.read(4)
    if len(header) < 4:
        return None
    (size,) = struct.unpack(">I", header)
    payload = stream.read(size)
    if len(payload) < size:
        return None
    return pickle.loads(payload)


def write_frame(stream, value) -> None:
    payload = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(struct.pack(">I", len(payload)) + payload)
    stream.flush()


def _load(spec: str, precision: str):
    from conformance.registry import BUILTIN, get_implementation, load_implementation_spec

    impl = get_implementation(spec) if spec in BUILTIN else load_implementation_spec(spec)
    if precision != "default" and hasattr(impl, "precision"):
        impl.precision = precision
    return impl


def _capability(impl, kind_name, config, device):
    from conformance.checks import capability_reason, check_kind

    return capability_reason(impl, check_kind(kind_name), config, device)


def _dtypes(impl, device, kind_name):
    from conformance.checks import declared_dtypes

    return declared_dtypes(impl, device, kind_name)


def _missing_method(impl, kind_name):
    from conformance.checks import check_kind, missing_method_reason

    return missing_method_reason(impl, check_kind(kind_name))


def _run_kind(impl, kind_name, config, inputs, device):
    from conformance.checks import check_kind

    # Pickling made every array C-contiguous: give them back the strides of the config's memory format.
    return check_kind(kind_name).call(impl, config, inputs.in_layout(config), device)


def _evaluate(impl, kind_name, config, inputs, device, arithmetic, gaps=True):
    """One example in one round trip: the capability, the arithmetic (when asked) and the call.

    ("declared", reason) when the implementation declares the config unsupported; ("ran", arithmetic,
    returned) when it was called; (DECLARATION_RAISED, type name, message, traceback) when a
    declaration raised. A call that raises raises (the worker replies "raise").
    """
    from conformance.checks import capability_reason, check_kind

    kind = check_kind(kind_name)
    try:
        reason = capability_reason(impl, kind, config, device, gaps=gaps)
        declared = impl.arithmetic(config, device) if reason is None and arithmetic else None
    except Exception as err:
        return (DECLARATION_RAISED, type(err).__name__, str(err), traceback.format_exc(limit=8))
    if reason is not None:
        return ("declared", reason)
    return ("ran", declared, _run_kind(impl, kind_name, config, inputs, device))


def _capabilities(impl):
    from conformance.capabilities import capabilities_of

    return capabilities_of(impl)


# Questions the harness asks about the implementation, answered here where the real object lives.
HARNESS_CALLS = {"harness:capability": _capability, "harness:dtypes": _dtypes,
                 "harness:capabilities": _capabilities,
                 "harness:missing_method": _missing_method,
                 "harness:evaluate": _evaluate}


def serve(spec: str, precision: str) -> int:
    requests = sys.stdin.buffer
    replies = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    # Anything the implementation prints must not corrupt the reply stream.
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    try:
        impl = _load(spec, precision)
    except BaseException as err:  # report why loading failed, then stop
        write_frame(replies, ("raise", type(err).__name__, str(err), traceback.format_exc(limit=5)))
        return 1
    write_frame(replies, ("ok", {"name": impl.name, "is_reference": bool(getattr(impl, "is_reference", False)),
                                 "devices": tuple(getattr(impl, "devices", ("cpu",)))}))
    while True:
        request = read_frame(requests)
        if request is None:
            return 0
        method, args, kwargs = request
        try:
            value = HARNESS_CALLS[method](impl, *args, **kwargs) if method in HARNESS_CALLS \
                else getattr(impl, method)(*args, **kwargs)
            write_frame(replies, ("ok", value))
        except Exception as err:
            # Where it was raised (conformance.origin) is known only here, where its traceback lives.
            write_frame(replies, ("raise", type(err).__name__, str(err), traceback.format_exc(limit=8),
                                  refusal_origin(err)))


if __name__ == "__main__":
    sys.exit(serve(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "default"))
