"""Tenants with boto3 at its defaults: a tenant and its user made with
`cairn admin`, then plain boto3 clients (the access key says the tenant):
one bucket name in two tenants and the global namespace holds three
buckets, configuration calls round-trip with the tenant's names, and the
tenant's quota answers S3's QuotaExceeded."""

import json
import os
import subprocess
import uuid

import boto3
import botocore.exceptions
import pytest
from botocore.config import Config

from conftest import REGION


@pytest.fixture(scope="module")
def cairn_admin(endpoint, credentials, tmp_path_factory):
    """`cairn admin ARGS --json` as root, in a HOME of its own."""
    home = tmp_path_factory.mktemp("tenants-home")
    env = {**os.environ, "HOME": str(home), "CAIRN_LOG": "warn"}
    binary = os.environ["CAIRN_BIN"]

    def run(*args):
        p = subprocess.run([binary, "admin", *args, "--json"], env=env,
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, f"cairn admin {args}: {p.stderr}"
        return json.loads(p.stdout) if p.stdout.strip() else None

    run("alias", "set", "local", endpoint, *credentials)
    doc = home / "rw.json"
    doc.write_text(json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))
    run("policy", "create", "local", "py-tenant-rw", str(doc))
    return run


def tenant_client(cairn_admin, endpoint, tenant):
    """A fresh tenant with one user allowed all of S3, and its boto3 client."""
    cairn_admin("tenant", "add", "local", tenant)
    user = f"u-{tenant}"
    cairn_admin("user", "add", "local", user, "--policy", "py-tenant-rw", "--tenant", tenant)
    key = cairn_admin("accesskey", "create", "local", "--user", user, "--type", "access-key")
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=key["accessKey"],
        aws_secret_access_key=key["secretKey"],
        region_name=REGION,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


def error_code(call, *args, **kwargs):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        call(*args, **kwargs)
    return e.value.response["Error"]["Code"]


def test_one_name_three_buckets_and_configurations_in_the_tenants_names(s3, cairn_admin, endpoint):
    suffix = uuid.uuid4().hex[:6]
    acme = tenant_client(cairn_admin, endpoint, f"acme{suffix}")
    globex = tenant_client(cairn_admin, endpoint, f"globex{suffix}")
    name = f"shared-{suffix}"
    for c, body in [(acme, b"acme"), (globex, b"globex"), (s3, b"global")]:
        c.create_bucket(Bucket=name)
        c.put_object(Bucket=name, Key="who", Body=body)
    for c, body in [(acme, b"acme"), (globex, b"globex"), (s3, b"global")]:
        assert c.get_object(Bucket=name, Key="who")["Body"].read() == body
    assert [b["Name"] for b in acme.list_buckets()["Buckets"]] == [name]
    assert acme.list_objects_v2(Bucket=name)["Name"] == name

    # Configurations name buckets as the tenant's users do.
    policy = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Deny", "Principal": "*", "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{name}/secret/*"}]})
    acme.put_bucket_policy(Bucket=name, Policy=policy)
    assert json.loads(acme.get_bucket_policy(Bucket=name)["Policy"]) == json.loads(policy)
    acme.put_object(Bucket=name, Key="secret/x", Body=b"x")
    assert error_code(acme.get_object, Bucket=name, Key="secret/x") == "AccessDenied"
    assert error_code(s3.get_bucket_policy, Bucket=name) == "NoSuchBucketPolicy"
    acme.create_bucket(Bucket=f"logs-{suffix}")
    acme.put_bucket_logging(Bucket=name, BucketLoggingStatus={"LoggingEnabled": {
        "TargetBucket": f"logs-{suffix}", "TargetPrefix": "l/"}})
    got = acme.get_bucket_logging(Bucket=name)["LoggingEnabled"]
    assert got["TargetBucket"] == f"logs-{suffix}"
    acme.put_bucket_lifecycle_configuration(Bucket=name, LifecycleConfiguration={"Rules": [{
        "ID": "tmp", "Status": "Enabled", "Filter": {"Prefix": "tmp/"},
        "Expiration": {"Days": 1}}]})
    assert acme.get_bucket_lifecycle_configuration(Bucket=name)["Rules"][0]["ID"] == "tmp"
    assert error_code(acme.get_bucket_website, Bucket=name) == "NotImplemented"

    # The log bucket stays: a flush may land in it at any time, and only
    # the tenant sees it.
    acme.put_bucket_logging(Bucket=name, BucketLoggingStatus={})
    for c, buckets in [(acme, [name]), (globex, [name]), (s3, [name])]:
        for b in buckets:
            for page in c.get_paginator("list_objects_v2").paginate(Bucket=b):
                for o in page.get("Contents", []):
                    c.delete_object(Bucket=b, Key=o["Key"])
            c.delete_bucket(Bucket=b)


def test_a_tenants_quota_answers_quota_exceeded(cairn_admin, endpoint):
    tenant = f"quota{uuid.uuid4().hex[:6]}"
    c = tenant_client(cairn_admin, endpoint, tenant)
    set_to = cairn_admin("tenant", "quota", "local", tenant, "--set", "1000")
    assert set_to["quotaBytes"] == 1000
    for b in ("q-one", "q-two"):
        c.create_bucket(Bucket=b)
    c.put_object(Bucket="q-one", Key="a", Body=b"a" * 600)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        c.put_object(Bucket="q-two", Key="b", Body=b"b" * 600)
    assert e.value.response["Error"]["Code"] == "QuotaExceeded"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    c.put_object(Bucket="q-two", Key="b", Body=b"b" * 400)
    info = cairn_admin("tenant", "info", "local", tenant)
    assert info["quotaBytes"] == 1000 and info["usage"]["versionBytes"] == 1000
    c.delete_object(Bucket="q-one", Key="a")
    c.delete_object(Bucket="q-two", Key="b")
    for b in ("q-one", "q-two"):
        c.delete_bucket(Bucket=b)
