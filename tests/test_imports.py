"""`import conformance`, a references-only check, and importing (not using) any references package or
adapter import no framework; the conformance package's imports (read with ast) form no circle and
reach no adapter (references)."""

import ast
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


# ---- the package's own import graph, read from the source (ast): no circles, no adapters -----------

PACKAGE = ROOT / "conformance"


def _module_names() -> dict[str, Path]:
    modules = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def _imports(name: str, path: Path, modules: dict[str, Path]):
    """(imported module, line) for every import statement of the module, wherever it is: at module
    level, inside a function, under `if TYPE_CHECKING:`. `from A import B` imports A.B when that is
    a module, else A (its __init__); a relative import resolves against the module's package."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{base}.{node.module}" if node.module else base
            else:
                base = node.module
            for alias in node.names:
                yield (f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base), node.lineno


def _import_graph() -> tuple[dict[str, dict[str, int]], dict[str, list[tuple[str, int]]]]:
    """{module: {conformance module it imports: first line}}, and {module: [(other module, line)]}."""
    modules = _module_names()
    inside, outside = {}, {}
    for name, path in modules.items():
        inside[name], outside[name] = {}, []
        for imported, line in _imports(name, path, modules):
            if imported in modules:
                if imported != name:
                    inside[name].setdefault(imported, line)
            else:
                outside[name].append((imported, line))
    return inside, outside


def _path(graph: dict[str, dict[str, int]], start: str, goal: str) -> list[str] | None:
    """The shortest chain of imports from `start` to `goal`, or None."""
    previous, frontier = {start: None}, [start]
    while frontier:
        following = []
        for module in frontier:
            for imported in graph[module]:
                if imported == goal:
                    chain = [module]
                    while previous[chain[-1]] is not None:
                        chain.append(previous[chain[-1]])
                    return chain[::-1] + [goal]
                if imported not in previous:
                    previous[imported] = module
                    following.append(imported)
        frontier = following
    return None


def test_the_graph_reader_sees_every_kind_of_import():
    graph, outside = _import_graph()
    assert "conformance.checks" in graph["conformance.registry"]  # module level, relative
    assert "conformance.strategies" in graph["conformance.checks"]  # `from . import strategies`, in a function
    assert "conformance.registry" in graph["conformance.worker"]  # absolute, in a function
    assert "conformance.report.render" in graph["conformance.__main__"]  # a subpackage's module
    assert "numpy" in [imported for imported, _ in outside["conformance.checks"]]


def test_no_import_circle_among_conformance_modules():
    """No module imports (anywhere in it, even inside a function) a module that imports it back."""
    graph, _ = _import_graph()
    circles = sorted({" -> ".join(chain) + f" (line {graph[module][chain[1]]} of {module})"
                      for module in graph for chain in [_path(graph, module, module)] if chain})
    assert not circles, "import circles:\n" + "\n".join(circles)


def test_no_conformance_module_imports_references():
    """The core imports no adapter: references import conformance, never the other way round."""
    _, outside = _import_graph()
    found = [f"{module} line {line}: {imported}" for module, imported_lines in outside.items()
             for imported, line in imported_lines if imported == "references" or imported.startswith("references.")]
    assert not found, "conformance imports references:\n" + "\n".join(found)
