"""`import conformance`, a references-only check, and importing (not using) any references package or
adapter import no framework."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FRAMEWORKS = ("torch", "jax", "tensorflow", "cupy")

SCRIPTS = {
    "import conformance": "import conformance",
    "strategies, harness, report": "import conformance.strategies, conformance.harness, conformance.compare",
    "a references-only check": """
from conformance import ConvConfig
from conformance.harness import Harness, Target
from conformance.strategies import ConvCase
h = Harness(writer=None, run_id='t')
for name in ('naive', 'im2col', 'matrix'):
    case = ConvCase(ConvConfig(ndim=2, in_size=(4, 4), kernel=(2, 2), bias=True), 0, 'normal')
    assert not h.check(Target('conv2d', name, 'cpu', name), 'gradient', case, test_id='t').failed
""",
    "adapter packages imported, not used": "import references.torch, references.jax, references.tensorflow",
    "adapter modules imported, not used": "import references.torch.functional, references.jax.lax, "
                                          "references.tensorflow.composed",
    "every built-in implementation loaded by name, not used": """
from conformance.registry import BUILTIN, get_implementation
for name in BUILTIN:
    assert get_implementation(name).name == name
""",
    "the references": "import references, references.numpy, references.numpy.naive, references.numpy.im2col, "
                      "references.numpy.matrix",
}


@pytest.mark.parametrize("script", list(SCRIPTS.values()), ids=list(SCRIPTS))
def test_no_framework_in_sys_modules(script):
    probe = script + "\nimport sys\nprint(','.join(m for m in %r if m in sys.modules))" % (FRAMEWORKS,)
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"imported: {result.stdout.strip()}"
