"""A plugin's reproducer is a short script with the inputs, the expected values and the bound, where the
maintainer pastes one call (#34: the inlined-plugin script had 519 lines and exited 2 outside the
user's directory). Filled in with a correct call it exits 0; with a wrong one 1; unfilled, 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conformance.config import ConvConfig
from conformance.standalone import standalone_script

ROOT = Path(__file__).resolve().parent.parent
PLACEHOLDER = ('    print("fill in call() with your library\'s call")  # <- replace these two lines\n'
               "    sys.exit(2)\n")

CONFIGS = [
    pytest.param(ConvConfig(ndim=1, in_channels=2, out_channels=2, in_size=3, kernel=2, bias=True, dtype="float32"),
                 id="conv1d-bias-float32"),
    pytest.param(ConvConfig(ndim=2, transposed=True, in_channels=2, out_channels=4, groups=2, in_size=(3, 2), kernel=2,
                            stride=(2, 1), output_padding=(1, 0), padding=((1, 0), (0, 1)), dtype="float16"),
                 id="conv_transpose2d-grouped-float16"),
]


def _run(script: str, body: str | None, tmp_path: Path):
    if body is not None:
        assert PLACEHOLDER in script, script[-1500:]
        script = script.replace(PLACEHOLDER, body)
    path = tmp_path / "skeleton.py"
    path.write_text(script)
    return subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=60,
                          cwd=tmp_path, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})


@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize("check", ["forward", "gradient"])
def test_the_skeleton_passes_a_correct_call_and_fails_a_wrong_one(config, check, tmp_path):
    script = standalone_script("mymod:MyConv", config, check, title="a finding").text
    assert len(script.splitlines()) <= 80, f"{len(script.splitlines())} lines"
    assert "import conformance" not in script and "mymod" not in script.split('"""', 2)[2], "it must not import the plugin"
    assert _run(script, None, tmp_path).returncode == 2
    setup = ("    import json\n    from conformance.config import ConvConfig\n"
             f"    c = ConvConfig.from_json({config.to_json()!r})\n"
             "    from references.numpy.naive import NaiveReference\n    r = NaiveReference()\n")
    if check == "forward":
        right, wrong = "    return r.forward(c, x, w, b)\n", "    return r.forward(c, x, w, b) * 1.01\n"
    else:
        right = "    return r.vjp(c, x, w, b, grad_out)\n"
        wrong = "    gx, gw, gb = r.vjp(c, x, w, b, grad_out)\n    return gx, gw * 1.01, gb\n"
    done = _run(script, setup + right, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    done = _run(script, setup + wrong, tmp_path)
    assert done.returncode == 1 and "beyond the bound" in done.stdout, done.stdout + done.stderr
