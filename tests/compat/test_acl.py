"""boto3 against ACLs and object ownership controls: canned ACLs on
put_object, get_object_acl, put_bucket_acl with an AccessControlPolicy,
and BucketOwnerEnforced (the default for new buckets) refusing ACLs."""

import hashlib
import uuid

import pytest
from botocore.exceptions import ClientError

ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"


def code(exc_info):
    return exc_info.value.response["Error"]["Code"]


def grants(acl):
    out = []
    for g in acl["Grants"]:
        who = g["Grantee"]
        name = who.get("URI") or "id:" + who["ID"]
        out.append((who["Type"], name, g["Permission"]))
    return out


@pytest.fixture
def acl_bucket(s3):
    """A bucket with ACLs on, as S3 needs them since 2023."""
    name = f"compat-acl-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name, ObjectOwnership="ObjectWriter")
    yield name
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
        keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
        if keys:
            s3.delete_objects(Bucket=name, Delete={"Objects": keys, "Quiet": True})
    s3.delete_bucket(Bucket=name)


def owner_id(credentials):
    return hashlib.sha256(credentials[0].encode()).hexdigest()


def test_put_object_public_read_shows_in_get_object_acl(s3, acl_bucket, credentials):
    me = owner_id(credentials)
    s3.put_object(Bucket=acl_bucket, Key="pub", Body=b"x", ACL="public-read")
    acl = s3.get_object_acl(Bucket=acl_bucket, Key="pub")
    assert acl["Owner"]["ID"] == me
    assert grants(acl) == [
        ("CanonicalUser", "id:" + me, "FULL_CONTROL"),
        ("Group", ALL_USERS, "READ"),
    ]
    s3.put_object(Bucket=acl_bucket, Key="pub", Body=b"y")
    assert grants(s3.get_object_acl(Bucket=acl_bucket, Key="pub")) == [
        ("CanonicalUser", "id:" + me, "FULL_CONTROL"),
    ]


def test_put_bucket_acl_with_an_access_control_policy(s3, acl_bucket, credentials):
    me = owner_id(credentials)
    s3.put_bucket_acl(
        Bucket=acl_bucket,
        AccessControlPolicy={
            "Owner": {"ID": me},
            "Grants": [
                {"Grantee": {"Type": "CanonicalUser", "ID": me}, "Permission": "FULL_CONTROL"},
                {"Grantee": {"Type": "Group", "URI": ALL_USERS}, "Permission": "READ"},
            ],
        },
    )
    acl = s3.get_bucket_acl(Bucket=acl_bucket)
    assert acl["Owner"]["ID"] == me
    assert grants(acl) == [
        ("CanonicalUser", "id:" + me, "FULL_CONTROL"),
        ("Group", ALL_USERS, "READ"),
    ]
    with pytest.raises(ClientError) as e:
        s3.put_bucket_acl(
            Bucket=acl_bucket,
            GrantRead='emailAddress="nobody@example.com"',
        )
    assert code(e) == "UnresolvableGrantByEmailAddress"


def test_new_buckets_have_acls_off(s3, bucket, credentials):
    controls = s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]
    assert controls["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k", Body=b"x", ACL="public-read")
    assert code(e) == "AccessControlListNotSupported"
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", ACL="bucket-owner-full-control")
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", ACL="private")
    me = owner_id(credentials)
    assert grants(s3.get_object_acl(Bucket=bucket, Key="k")) == [
        ("CanonicalUser", "id:" + me, "FULL_CONTROL"),
    ]
    s3.delete_bucket_ownership_controls(Bucket=bucket)
    with pytest.raises(ClientError) as e:
        s3.get_bucket_ownership_controls(Bucket=bucket)
    assert code(e) == "OwnershipControlsNotFoundError"
