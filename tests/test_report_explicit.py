"""The report's tables of explicit examples: real-model shapes and the upstream regression corpus."""

from conformance.records import CheckRecord
from conformance.report.explicit import model_shape_rows, regression_rows
from conformance.report.findings import build_findings


def _record(status, phase, example, implementation="torch", kind=None, check="forward"):
    return CheckRecord(run_id="r", test_id=f"test_forward[conv3d-{implementation}-cpu]", implementation=implementation,
                       op="conv3d", device="cpu", check=check, status=status, kind=kind, phase=phase, example=example,
                       config_str="conv3d(...)")


def test_regression_rows_say_whether_each_upstream_bug_reproduces():
    rows = regression_rows([_record("known", "regression", "pytorch-169688"),
                            _record("pass", "regression", "pytorch-163347", check="forward"),
                            _record("unsupported", "regression", "pytorch-134908")])
    by_id = {row["example"]: row for row in rows}
    assert by_id["pytorch-169688"]["reproduces"] == "reproduces"
    assert by_id["pytorch-169688"]["upstream"] == "https://github.com/pytorch/pytorch/issues/169688"
    assert by_id["pytorch-163347"]["reproduces"] == "does not reproduce"
    assert by_id["pytorch-134908"]["reproduces"] == "unsupported"


def test_regression_records_are_never_findings_but_model_shapes_are():
    regression = _record("mismatch", "regression", "pytorch-169688", kind="value")
    shape = _record("mismatch", "explicit", "resnet50.stem", kind="value")
    findings = build_findings([regression, shape])
    assert len(findings) == 1
    rows = model_shape_rows([shape, _record("pass", "explicit", "resnet50.stem", implementation="jax")])
    assert [(r["example"], r["implementation"], r["verdict"]) for r in rows] == [
        ("resnet50.stem", "jax", "passes"), ("resnet50.stem", "torch", "fails")]
