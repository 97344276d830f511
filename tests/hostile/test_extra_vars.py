"""--extra-vars as `ansible-playbook -e` takes them: key=value pairs or a JSON object; values are data."""

from __future__ import annotations

import pytest

from aifactory.core.inputs import InputFileError, parse_extra_vars
from tests.hostile.conftest import REPO, assert_refused, run_inprocess

LAB = str(REPO / "inventories" / "lab-b200")


def test_the_readme_safety_switch_is_accepted():
    assert parse_extra_vars("bmc_power_action=none") == {"bmc_power_action": "none"}


def test_pairs_split_as_a_shell_would_and_stay_strings():
    assert parse_extra_vars("a=1 b='two words' c=x=y d=") == {"a": "1", "b": "two words", "c": "x=y", "d": ""}


def test_json_objects_still_work():
    assert parse_extra_vars('{"bmc_pxe_boot_once": true, "n": [1]}') == {"bmc_pxe_boot_once": True, "n": [1]}


@pytest.mark.parametrize("text,said", [
    ("bmc_power_action", "pair 1 is not key=value"),
    ("a=1 =2", "pair 2 is not key=value"),
    ("1a=x", "pair 1 is not key=value"),
    ("a='open", "not key=value pairs"),
    ("   ", "empty"),
    ("[1, 2]", "not a JSON object"),
    ("a=\"{{ lookup('env','HOME') }}\"", "a: holds a Jinja template"),
    ('{"x": {"y": ["{% raw %}"]}}', "x.y[0]: holds a Jinja template"),
])
def test_refused_with_the_reason(text, said):
    with pytest.raises(InputFileError, match=said.replace("[", r"\[").replace("]", r"\]")):
        parse_extra_vars(text)


def test_a_refusal_never_echoes_a_value():
    with pytest.raises(InputFileError) as refused:
        parse_extra_vars("token={{ s3cr3t-value }}")
    assert "s3cr3t" not in str(refused.value)


def test_bringup_refuses_a_template_before_anything_runs(capsys, tmp_path):
    code, _, err = run_inprocess(capsys, "bringup", LAB, "--check", "-e", "bmc_power_action={{x}}",
                                 "--artifacts-dir", tmp_path / "artifacts")
    assert_refused(code, err, "--extra-vars", "Jinja template")
    assert not (tmp_path / "artifacts").exists(), "something ran"
