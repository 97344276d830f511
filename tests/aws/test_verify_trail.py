"""`verify` finds the audit trail: the factory's own, or with `audit_trail: organization` one the organization runs."""

from __future__ import annotations

import boto3

from aifactory.aws.moto_standin.backend import FAKE_CREDENTIALS, in_process_moto
from aifactory.spec import load_spec
from aifactory.aws.verify import check_trail
from tests.conftest import site_dir


def _cloudtrail_with_trail(region: str, name: str | None):
    session = boto3.session.Session(**FAKE_CREDENTIALS)
    s3, cloudtrail = session.client("s3", region_name=region), session.client("cloudtrail", region_name=region)
    if name:
        s3.create_bucket(Bucket="org-trail", CreateBucketConfiguration={"LocationConstraint": region})
        cloudtrail.create_trail(Name=name, S3BucketName="org-trail")
        cloudtrail.start_logging(Name=name)
    return cloudtrail


def test_organization_trail_is_checked_for_when_the_program_runs_none():
    factory = load_spec(site_dir("lab-b200"))
    factory = factory.model_copy(update={"sovereignty": factory.sovereignty.model_copy(update={"audit_trail": "organization"})})
    region = factory.sovereignty.region
    with in_process_moto():
        assert [c.ok for c in check_trail(_cloudtrail_with_trail(region, None), factory)] == [False]
    with in_process_moto():
        (check,) = check_trail(_cloudtrail_with_trail(region, "org-audit"), factory)
        assert check.ok and check.detail == "org-audit"


def test_own_trail_must_be_the_factorys():
    factory = load_spec(site_dir("lab-b200"))
    with in_process_moto():
        (check,) = check_trail(_cloudtrail_with_trail(factory.sovereignty.region, "someone-elses"), factory)
        assert not check.ok and f"{factory.name}-trail" in check.detail
