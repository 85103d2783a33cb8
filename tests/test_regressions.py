"""The regression corpus of known upstream bugs: loading, validation errors, configs, URLs."""

import pytest

from conformance import ConvConfig
from conformance.known import is_upstream_url
from conformance.regressions import IMPLEMENTATION_NAMES, RegressionError, load_regressions

ENTRY = """
[[regression]]
id = "demo-1"
upstream = "https://github.com/pytorch/pytorch/issues/163347"
title = "demo"
implementations = ["torch"]
op = "conv2d"
check = "forward"
dtype = "bfloat16"
config = { ndim = 2, in_size = [2, 2], kernel = [2, 2], dtype = "bfloat16" }
values = "ones"
symptom = "1 instead of 4"
cpu_features = ["avx512_bf16"]
reproduces_here = false
note = "n"
"""


def write(tmp_path, text):
    path = tmp_path / "regressions.toml"
    path.write_text(text)
    return path


def test_builtin_corpus_loads_with_valid_configs_and_urls():
    corpus = load_regressions()
    assert 8 <= len(corpus) <= 12
    assert len({e.id for e in corpus}) == len(corpus)
    for entry in corpus:
        assert is_upstream_url(entry.upstream), entry.id
        assert set(entry.implementations) <= set(IMPLEMENTATION_NAMES), entry.id
        assert entry.config.op_name == entry.op and entry.note, entry.id
        if entry.config_valid:
            assert ConvConfig.from_dict(entry.config.to_dict()) == entry.config, entry.id
        else:  # a documented invalid call: it breaks a rule and names it
            assert entry.config.broken_rules() and entry.rule and entry.check == "invalid", entry.id
    by_id = {entry.id: entry for entry in corpus}
    assert by_id["pytorch-169688"].reproduces_here and "amx_bf16" in by_id["pytorch-169688"].cpu_features
    assert by_id["pytorch-163347"].values == "ones"


def test_applies_to():
    corpus = load_regressions()
    assert [e.id for e in corpus if e.applies_to("keras.torch")] == ["keras-22876"]
    assert {e.id for e in corpus if e.applies_to("jax")} == {"jax-32267"}
    assert not any(e.applies_to("naive") for e in corpus)


BAD = [
    pytest.param('upstream = "https://github.com/pytorch/pytorch/issues/163347"', 'upstream = "pytorch#163347"',
                 "field 'upstream'", id="url"),
    pytest.param('implementations = ["torch"]', 'implementations = ["pytorch"]', "field 'implementations'",
                 id="unknown-implementation"),
    pytest.param('check = "forward"', 'check = "fwd"', "field 'check'", id="check-kind"),
    pytest.param('dtype = "bfloat16"\n', 'dtype = "float16"\n', "differs from config.dtype", id="dtype-mismatch"),
    pytest.param('op = "conv2d"', 'op = "conv1d"', "field 'op'", id="op-mismatch"),
    pytest.param('kernel = [2, 2]', 'kernel = [3, 3]', "not a valid ConvConfig", id="invalid-config"),
    pytest.param('values = "ones"', 'values = "twos"', "field 'values'", id="values"),
    pytest.param('values = "ones"', '', "value_profile are needed", id="no-data"),
    pytest.param('reproduces_here = false', 'reproduces_here = "no"', "field 'reproduces_here'", id="bool"),
    pytest.param('note = "n"\n', '', "field 'note' is missing", id="missing-field"),
    pytest.param('note = "n"\n', 'note = "n"\nextra = 1\n', "unknown field", id="unknown-field"),
    pytest.param('values = "ones"', 'values = "ones"\nconfig_valid = false\nrule = "x"', "breaks no validity rule",
                 id="invalid-flag-on-valid-config"),
]


@pytest.mark.parametrize("old, new, message", BAD)
def test_validation_errors_name_the_entry_and_field(tmp_path, old, new, message):
    assert old in ENTRY
    with pytest.raises(RegressionError, match=message) as info:
        load_regressions(write(tmp_path, ENTRY.replace(old, new)))
    assert "demo-1" in str(info.value)


def test_good_entry_and_duplicates(tmp_path):
    (entry,) = load_regressions(write(tmp_path, ENTRY))
    assert entry.config.output_shape == (1, 1, 1, 1) and entry.device == "cpu" and entry.seed is None
    with pytest.raises(RegressionError, match="duplicate id 'demo-1'"):
        load_regressions(write(tmp_path, ENTRY + ENTRY))


def test_documented_invalid_config(tmp_path):
    text = ENTRY.replace("kernel = [2, 2]", "kernel = [3, 3]").replace('values = "ones"',
                                                                      'values = "ones"\nconfig_valid = false')
    with pytest.raises(RegressionError, match="field 'rule'"):
        load_regressions(write(tmp_path, text))
    (entry,) = load_regressions(write(tmp_path, text.replace("config_valid = false",
                                                             'config_valid = false\nrule = "output size is positive"')))
    assert not entry.config_valid and entry.config.broken_rules()
