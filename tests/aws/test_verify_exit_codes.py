"""`aifactory verify` tells CI three things apart: compliant (0), non-compliant (1), could not check (4);
and refuses `--aws-account` without `--aws-endpoint` (2) instead of checking another account."""

from __future__ import annotations

from aifactory.cli import main
from tests.aws.conftest import LAB, free_port


def verify_cli(capsys, *argv: str) -> tuple[int, str]:
    status = main(["verify", str(LAB), *argv])
    return status, capsys.readouterr().err


def test_a_factory_that_is_not_there_is_non_compliant(moto_server, capsys):
    status, err = verify_cli(capsys, "--aws-endpoint", moto_server)  # an empty account: no hub VPC
    assert status == 1 and err == ""


def test_aws_that_cannot_be_reached_is_no_verdict(monkeypatch, capsys):
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # a refused connection is not retried
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    status, err = verify_cli(capsys, "--aws-endpoint", url)
    assert status == 4 and "no verdict" in err and url in err and "Traceback" not in err


def test_aws_account_without_aws_endpoint_is_bad_input(capsys):
    status, err = verify_cli(capsys, "--aws-account", "123456789012")
    assert status == 2 and "--aws-account" in err and "--aws-endpoint" in err
