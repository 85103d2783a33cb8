"""Definitions of calls PyTorch's rules refuse (conformance.definitions): the readings against hand
computations, the declaration's checks, and the verdicts the harness gives a defined call."""

import numpy as np
import pytest

from conformance import ConvConfig, Definition
from conformance.capabilities import Capabilities
from conformance.definitions import READINGS, NotComputable
from conformance.harness import Harness, Target
from conformance.known import load_known_divergences
from conformance.strategies import InvalidCase
from references.numpy.naive import NaiveReference

FORWARD = NaiveReference().forward


def _config(**fields):
    return ConvConfig.unchecked(**{"ndim": 1, "in_channels": 1, "out_channels": 1, "bias": False,
                                   "dtype": "float64", **fields})


def _read(reading, config, x, w, b=None, weight_shape=None):
    x, w = np.asarray(x, float).reshape(config.input_shape), np.asarray(w, float)
    w = w.reshape(weight_shape or config.weight_shape)
    return READINGS[reading].read(config, tuple(w.shape), x, w, None if b is None else np.asarray(b, float), FORWARD)


# ---- each reading, against the sums written out by hand --------------------------------------------


def test_same_upper_and_lower_put_the_odd_pad_at_the_end_or_the_start():
    # n=6, k=3, s=2: ceil(6/2) = 3 outputs, total pad (3-1)*2 + 3 - 6 = 1
    config = _config(in_size=(6,), kernel=(3,), stride=(2,), padding="same")
    x = [1, 2, 3, 4, 5, 6]
    upper = _read("same_upper", config, x, [1, 1, 1])  # [1 2 3 4 5 6 0]: windows at 0, 2, 4
    lower = _read("same_lower", config, x, [1, 1, 1])  # [0 1 2 3 4 5 6]
    np.testing.assert_array_equal(upper.output.ravel(), [6, 12, 11])
    np.testing.assert_array_equal(lower.output.ravel(), [3, 9, 15])
    assert upper.call.padding == ((0, 1),) and upper.terms == 3


def test_crop_removes_inputs_of_an_ordinary_call_and_adds_outputs_of_a_transposed_one():
    ordinary = _read("crop", _config(in_size=(5,), kernel=(2,), padding=((-1, -1),)), [1, 2, 3, 4, 5], [1, 1])
    np.testing.assert_array_equal(ordinary.output.ravel(), [5, 7])  # [2 3 4] * [1 1]
    # transposed x=[1 2], w=[1 1]: the full output is [1 3 2]; lo=-1 adds one output no input reaches
    transposed = _config(transposed=True, in_size=(2,), kernel=(2,), padding=((-1, 0),), bias=True)
    extended = _read("crop", transposed, [1, 2], [1, 1], b=[10])
    np.testing.assert_array_equal(extended.output.ravel(), [10, 11, 13, 12])
    # more cropped than the input holds: refused
    assert _read("crop", _config(in_size=(1,), kernel=(1,), padding=((-1, -1),)), [1], [1]) is None


def test_crop_to_nothing_is_an_empty_output():
    empty = _read("crop", _config(in_size=(2,), kernel=(2,), padding=((-1, -1),)), [1, 2], [1, 1])
    assert empty.output.shape == (1, 1, 0)


def test_empty_output_where_the_kernel_is_longer_than_the_input():
    defined = _read("empty_output", _config(in_size=(1,), kernel=(2,), out_channels=3), [1], np.ones(6))
    assert defined.output.shape == (1, 3, 0)
    with pytest.raises(NotComputable, match="not empty"):
        _read("empty_output", _config(in_size=(3,), kernel=(2,)), [1, 2, 3], [1, 1])


@pytest.mark.parametrize("in_size, kernel, dilation, stride, out", [
    ((1,), (2,), (1,), (1,), 0),     # (1 + 1 - 2) / 1 = 0: empty
    ((1,), (3,), (1,), (1,), None),  # (1 + 1 - 3) / 1 = -1: "Computed output size would be negative"
    ((1,), (3,), (1,), (2,), 0),     # (1 + 2 - 3) / 2 = 0
    ((1,), (2,), (2,), (2,), 0),     # dilated kernel 3: (1 + 2 - 3) / 2 = 0
    ((1,), (3,), (2,), (2,), None),  # dilated kernel 5: (1 + 2 - 5) / 2 = -1, C++ rounds towards zero
])
def test_tf_empty_output_follows_tfs_windowed_output_size(in_size, kernel, dilation, stride, out):
    config = _config(in_size=in_size, kernel=kernel, dilation=dilation, stride=stride)
    defined = _read("tf_empty_output", config, [1], np.ones(kernel[0]))
    assert (defined is None) if out is None else defined.output.shape == (1, 1, out)


def test_tf_empty_output_unstrided_applies_the_stride_after_the_stride_1_rule():
    """The composition's dilated calls: (1 + 1 - 3) at stride 1 is refused, where stride 2 alone gives 0."""
    config = _config(in_size=(1,), kernel=(2,), dilation=(2,), stride=(2,))
    assert _read("tf_empty_output", config, [1], np.ones(2)).output.shape == (1, 1, 0)
    assert _read("tf_empty_output_unstrided", config, [1], np.ones(2)) is None
    longer_by_one = _config(in_size=(2,), kernel=(2,), dilation=(2,), stride=(2,))
    assert _read("tf_empty_output_unstrided", longer_by_one, [1, 2], np.ones(2)).output.shape == (1, 1, 0)
    # 2-d: the first dim empty, the second 3 outputs at stride 1, subsampled by 2 to 2
    two_d = _config(ndim=2, in_size=(1, 3), kernel=(2, 1), stride=(1, 2))
    assert _read("tf_empty_output_unstrided", two_d, [1, 2, 3], np.ones(2)).output.shape == (1, 1, 0, 2)


def test_extended_output_and_tf_output_shape():
    # x=[1 2], w=[1 1], stride 2: the full output is [1 1 2 2]; output_padding 3 adds three outputs
    config = _config(transposed=True, in_size=(2,), kernel=(2,), stride=(2,), output_padding=(3,))
    np.testing.assert_array_equal(_read("extended_output", config, [1, 2], [1, 1]).output.ravel(),
                                  [1, 1, 2, 2, 0, 0, 0])
    assert _read("tf_output_shape", config, [1, 2], [1, 1]) is None  # 3 past hi=0 is >= the stride
    padded = _config(transposed=True, in_size=(2,), kernel=(2,), stride=(2,), output_padding=(3,),
                     padding=((0, 2),), bias=True)  # 3 - 2 = 1 past hi: one output past the full four, the bias alone
    np.testing.assert_array_equal(_read("tf_output_shape", padded, [1, 2], [1, 1], b=[10]).output.ravel(),
                                  [11, 11, 12, 12, 10])


def test_groups_from_weight_reads_the_grouping_off_the_weight_or_refuses():
    # PyTorch's groups=2 with a weight of depth 2 for x of depth 2: TF's ungrouped 2 -> 2 convolution
    config = _config(in_channels=2, out_channels=2, groups=2, in_size=(1,), kernel=(1,))
    w = np.array([[1.0, 2.0], [3.0, 4.0]])
    defined = _read("groups_from_weight", config, [5, 7], w, weight_shape=(2, 2, 1))
    np.testing.assert_array_equal(defined.output.ravel(), [1 * 5 + 2 * 7, 3 * 5 + 4 * 7])
    assert defined.call.groups == 1
    wider = _config(in_channels=4, out_channels=2, groups=2, in_size=(1,), kernel=(1,))
    assert _read("groups_from_weight", wider, np.ones(4), np.ones(6), weight_shape=(2, 3, 1)) is None


# ---- the declaration -------------------------------------------------------------------------------


@pytest.mark.parametrize("fields, message", [
    (dict(rule="same needs stride 1", reading="same_upper"), "is not one of"),
    (dict(rule="'same' needs stride 1", reading="tf_same"), "reading 'tf_same' is not one of"),
    (dict(rule="padding >= 0", reading="same_upper"), "choose one of \\['crop'\\]"),
    (dict(rule="padding >= 0", reading="crop", ops=("conv4d",)), "ops"),
])
def test_a_wrong_definition_is_refused_when_declared(fields, message):
    with pytest.raises(ValueError, match=message):
        Definition(reason="r", **fields)


def test_unless_names_a_feature_and_passes_the_definition_over():
    with pytest.raises(ValueError, match="unless='dilated'"):
        Capabilities(definitions=(Definition("'same' needs stride 1", "same_upper", "r", unless=("dilated",)),))
    declared = Capabilities(definitions=(Definition("'same' needs stride 1", "same_upper", "r", unless=("dilation>1",)),))
    plain = _config(in_size=(5,), kernel=(2,), stride=(2,), padding="same")
    dilated = _config(in_size=(5,), kernel=(2,), stride=(2,), dilation=(2,), padding="same")
    assert declared.definition_for(plain, "'same' needs stride 1") is not None
    assert declared.definition_for(dilated, "'same' needs stride 1") is None
    assert declared.definition_for(plain, "padding >= 0") is None


# ---- the verdicts ----------------------------------------------------------------------------------


def _check(spec, config, rule="'same' needs stride 1", weight_shape=None, seed=0):
    harness = Harness(writer=None, run_id="t", isolation="none", known=load_known_divergences())
    case = InvalidCase(config, rule, weight_shape or config.weight_shape, seed, "normal")
    return harness.check(Target(config.op_name, spec, "cpu", f"tests.definitions_plugins:{spec}"), "invalid", case,
                         test_id="t")


# n=6, k=3, s=2: TF's SAME pads (0, 1), PyTorch's stride-1 pairs (1, 1): the same shape, other values
STRIDED_SAME = _config(in_size=(6,), kernel=(3,), stride=(2,), padding="same", bias=True)


def test_a_defined_call_that_matches_its_definition_passes_and_says_so():
    outcome = _check("same_any_stride", STRIDED_SAME)
    assert outcome.statuses == {"invalid_call": "pass"}, outcome.message
    record = outcome.records[0]
    assert record.detail == "defined: same_upper" and "matches same_upper" in record.message


def test_a_defined_call_with_the_wrong_values_is_a_finding():
    outcome = _check("same_as_pytorch_pairs", STRIDED_SAME)
    assert outcome.statuses == {"invalid_call": "mismatch"}
    assert outcome.records[0].kind == "value"
    assert "defines \"'same' needs stride 1\" as same_upper" in outcome.message
    assert "differs from that definition" in outcome.message and "reproduce:" in outcome.message


def test_a_defined_call_that_raises_is_declared_defined_but_refused():
    outcome = _check("same_refused", STRIDED_SAME)
    assert outcome.statuses == {"invalid_call": "error"}
    assert outcome.message.startswith("declared defined, but refused") and "narrow the Definition" in outcome.message


def test_where_the_definition_refuses_too_the_call_must_raise():
    config = _config(in_channels=4, out_channels=2, groups=2, in_size=(3,), kernel=(1,))
    outcome = _check("groups_from_any_weight", config, "weight shape matches the channels", weight_shape=(2, 3, 1))
    assert outcome.statuses == {"invalid_call": "mismatch"} and "accepts an invalid call" in outcome.message


def test_other_rules_of_a_defining_kernel_must_still_raise():
    outcome = _check("same_any_stride", _config(in_size=(6,), kernel=(3,), stride=(0,)), "stride >= 1")
    assert outcome.statuses == {"invalid_call": "pass"} and outcome.records[0].detail != "defined: same_upper"


def test_the_error_parity_table_says_defined_and_whether_it_matched():
    from conformance.records import CheckRecord, ReadResult
    from conformance.report.model import build_model

    def record(impl, status, kind=None):
        return CheckRecord(run_id="r", test_id=f"t[conv1d-{impl}-cpu]", implementation=impl, op="conv1d", device="cpu",
                           check="invalid_call", status=status, kind=kind, rule="'same' needs stride 1",
                           detail="defined: same_upper", message="m")

    records = [record("a", "pass"), record("a", "pass"), record("b", "pass"), record("b", "mismatch", "value")]
    parity = {row["implementation"]: row["cells"][0] for row in build_model(ReadResult(records=records))["error_parity"]["rows"]}
    assert parity["a"] == {"state": "pass", "text": "defined (same_upper): matches (2)", "n": 2}
    assert parity["b"]["state"] == "mismatch" and parity["b"]["text"] == "defined (same_upper): differs in 1 of 2"


def _check_with_entry(tmp_path, spec, entry: str):
    path = tmp_path / "mine.toml"
    path.write_text('[[divergence]]\nid = "MY-1"\nsummary = "s"\nclassification = "bug"\nupstream = "u"\n'
                    f'implementations = ["{spec}"]\nchecks = ["forward"]\nwhen = {{ ndim = 1 }}\n{entry}\n')
    harness = Harness(writer=None, run_id="t", isolation="none", known=load_known_divergences(path))
    case = InvalidCase(STRIDED_SAME, "'same' needs stride 1", STRIDED_SAME.weight_shape, 0, "normal")
    return harness.check(Target("conv1d", spec, "cpu", f"tests.definitions_plugins:{spec}"), "invalid", case,
                         test_id="t")


def test_a_defined_call_with_the_wrong_values_is_known_by_an_entry_of_the_forward_call_it_makes(tmp_path):
    outcome = _check_with_entry(tmp_path, "same_as_pytorch_pairs", 'expected = "mismatch"\nkind = "value"')
    assert outcome.statuses == {"invalid_call": "known"} and outcome.records[0].known_id == "MY-1"


def test_a_defined_call_that_raises_is_known_by_an_entry_of_the_forward_call_it_makes(tmp_path):
    outcome = _check_with_entry(tmp_path, "same_refused", "expected = \"error\"\nmessage = \"'same' needs stride 1\"")
    assert outcome.statuses == {"invalid_call": "known"} and outcome.records[0].known_id == "MY-1"
    other = _check_with_entry(tmp_path, "same_refused", 'expected = "error"\nmessage = "another text"')
    assert other.statuses == {"invalid_call": "error"}, "an entry of another error must not excuse this one"
