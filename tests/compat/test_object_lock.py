"""boto3 against object lock: a bucket created with object lock (versioning
on for good), its default retention, retention and legal hold on versions,
deletes by version id refused while locked, and GOVERNANCE bypass with
x-amz-bypass-governance-retention (root holds s3:BypassGovernanceRetention)."""

import datetime
import uuid

import pytest
from botocore.exceptions import ClientError


def code(exc_info):
    return exc_info.value.response["Error"]["Code"]


def in_days(days):
    # Whole seconds: S3 dates carry no finer precision back.
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    return now + datetime.timedelta(days=days)


@pytest.fixture
def locked(s3):
    name = f"compat-lock-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    yield name
    # Remove what the locks allow: holds off, GOVERNANCE bypassed. COMPLIANCE
    # versions stay until their date (the server's drives are temporary).
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=name):
        for v in page.get("Versions", []):
            s3.put_object_legal_hold(
                Bucket=name, Key=v["Key"], VersionId=v["VersionId"], LegalHold={"Status": "OFF"}
            )
        for v in page.get("Versions", []) + page.get("DeleteMarkers", []):
            try:
                s3.delete_object(
                    Bucket=name, Key=v["Key"], VersionId=v["VersionId"], BypassGovernanceRetention=True
                )
            except ClientError as e:
                assert e.response["Error"]["Code"] == "AccessDenied"
    try:
        s3.delete_bucket(Bucket=name)
    except ClientError as e:
        assert e.response["Error"]["Code"] == "BucketNotEmpty"


def put_version(s3, bucket, key, **lock):
    return s3.put_object(Bucket=bucket, Key=key, Body=b"kept", **lock)["VersionId"]


def test_a_lock_bucket_keeps_versioning_and_applies_its_default_retention(s3, locked, bucket):
    assert s3.get_bucket_versioning(Bucket=locked)["Status"] == "Enabled"
    cfg = s3.get_object_lock_configuration(Bucket=locked)["ObjectLockConfiguration"]
    assert cfg == {"ObjectLockEnabled": "Enabled"}
    with pytest.raises(ClientError) as e:
        s3.put_bucket_versioning(Bucket=locked, VersioningConfiguration={"Status": "Suspended"})
    assert code(e) == "InvalidBucketState"

    rule = {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}}
    s3.put_object_lock_configuration(
        Bucket=locked, ObjectLockConfiguration={"ObjectLockEnabled": "Enabled", "Rule": rule}
    )
    cfg = s3.get_object_lock_configuration(Bucket=locked)["ObjectLockConfiguration"]
    assert cfg == {"ObjectLockEnabled": "Enabled", "Rule": rule}

    # A version written without lock headers gets the default.
    before = in_days(1)
    vid = put_version(s3, locked, "defaulted")
    head = s3.head_object(Bucket=locked, Key="defaulted", VersionId=vid)
    assert head["ObjectLockMode"] == "GOVERNANCE"
    assert before <= head["ObjectLockRetainUntilDate"] <= in_days(1) + datetime.timedelta(minutes=5)
    with pytest.raises(ClientError) as e:
        s3.delete_object(Bucket=locked, Key="defaulted", VersionId=vid)
    assert code(e) == "AccessDenied"

    # A bucket made without object lock has no configuration to read.
    with pytest.raises(ClientError) as e:
        s3.get_object_lock_configuration(Bucket=bucket)
    assert code(e) == "ObjectLockConfigurationNotFoundError"
    with pytest.raises(ClientError) as e:
        s3.put_object(
            Bucket=bucket, Key="k", Body=b"x", ObjectLockMode="GOVERNANCE", ObjectLockRetainUntilDate=in_days(1)
        )
    assert code(e) == "InvalidRequest"


def test_governance_retention_blocks_deletes_until_bypassed(s3, locked):
    until = in_days(2)
    vid = put_version(s3, locked, "gov", ObjectLockMode="GOVERNANCE", ObjectLockRetainUntilDate=until)
    got = s3.get_object_retention(Bucket=locked, Key="gov", VersionId=vid)["Retention"]
    assert got == {"Mode": "GOVERNANCE", "RetainUntilDate": until}

    with pytest.raises(ClientError) as e:
        s3.delete_object(Bucket=locked, Key="gov", VersionId=vid)
    assert code(e) == "AccessDenied"
    # Shortening needs the bypass; extending does not.
    with pytest.raises(ClientError) as e:
        s3.put_object_retention(
            Bucket=locked,
            Key="gov",
            VersionId=vid,
            Retention={"Mode": "GOVERNANCE", "RetainUntilDate": in_days(1)},
        )
    assert code(e) == "AccessDenied"
    later = in_days(3)
    s3.put_object_retention(
        Bucket=locked, Key="gov", VersionId=vid, Retention={"Mode": "GOVERNANCE", "RetainUntilDate": later}
    )
    got = s3.get_object_retention(Bucket=locked, Key="gov", VersionId=vid)["Retention"]
    assert got["RetainUntilDate"] == later
    s3.put_object_retention(
        Bucket=locked,
        Key="gov",
        VersionId=vid,
        Retention={"Mode": "GOVERNANCE", "RetainUntilDate": in_days(1)},
        BypassGovernanceRetention=True,
    )

    # A delete without a version id only adds a marker: the version stays.
    marker = s3.delete_object(Bucket=locked, Key="gov")
    assert marker["DeleteMarker"] is True
    assert s3.get_object(Bucket=locked, Key="gov", VersionId=vid)["Body"].read() == b"kept"

    s3.delete_object(Bucket=locked, Key="gov", VersionId=vid, BypassGovernanceRetention=True)
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=locked, Key="gov", VersionId=vid)
    assert code(e) in ("NoSuchVersion", "NoSuchKey")


def test_a_legal_hold_blocks_deletes_even_with_bypass_until_removed(s3, locked):
    vid = put_version(s3, locked, "held", ObjectLockLegalHoldStatus="ON")
    assert s3.head_object(Bucket=locked, Key="held", VersionId=vid)["ObjectLockLegalHoldStatus"] == "ON"
    assert s3.get_object_legal_hold(Bucket=locked, Key="held", VersionId=vid)["LegalHold"] == {"Status": "ON"}
    for bypass in (False, True):
        with pytest.raises(ClientError) as e:
            s3.delete_object(Bucket=locked, Key="held", VersionId=vid, BypassGovernanceRetention=bypass)
        assert code(e) == "AccessDenied"

    s3.put_object_legal_hold(Bucket=locked, Key="held", VersionId=vid, LegalHold={"Status": "OFF"})
    hold = s3.get_object_legal_hold(Bucket=locked, Key="held", VersionId=vid)["LegalHold"]
    assert hold == {"Status": "OFF"}
    s3.delete_object(Bucket=locked, Key="held", VersionId=vid)

    # A hold set afterwards on an unlocked version, through the API.
    vid = put_version(s3, locked, "later")
    s3.put_object_legal_hold(Bucket=locked, Key="later", VersionId=vid, LegalHold={"Status": "ON"})
    with pytest.raises(ClientError) as e:
        s3.delete_object(Bucket=locked, Key="later", VersionId=vid)
    assert code(e) == "AccessDenied"


def test_compliance_retention_is_never_shortened_or_bypassed(s3, locked):
    until = in_days(1)
    vid = put_version(s3, locked, "comp", ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=until)
    assert s3.get_object_retention(Bucket=locked, Key="comp", VersionId=vid)["Retention"] == {
        "Mode": "COMPLIANCE",
        "RetainUntilDate": until,
    }
    with pytest.raises(ClientError) as e:
        s3.delete_object(Bucket=locked, Key="comp", VersionId=vid, BypassGovernanceRetention=True)
    assert code(e) == "AccessDenied"
    for retention in (
        {"Mode": "COMPLIANCE", "RetainUntilDate": until - datetime.timedelta(hours=1)},
        {"Mode": "GOVERNANCE", "RetainUntilDate": in_days(2)},
    ):
        with pytest.raises(ClientError) as e:
            s3.put_object_retention(
                Bucket=locked, Key="comp", VersionId=vid, Retention=retention, BypassGovernanceRetention=True
            )
        assert code(e) == "AccessDenied"
    later = in_days(2)
    s3.put_object_retention(
        Bucket=locked, Key="comp", VersionId=vid, Retention={"Mode": "COMPLIANCE", "RetainUntilDate": later}
    )
    got = s3.get_object_retention(Bucket=locked, Key="comp", VersionId=vid)["Retention"]
    assert got["RetainUntilDate"] == later
