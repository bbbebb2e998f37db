"""The IAM API with boto3's IAM client and `aws iam`, at their defaults:
users, keys that sign S3 requests at once, inline policies (documents
decoded as boto3 decodes AWS's), AWS's error codes."""

import json
import subprocess
import uuid

import boto3
import botocore.exceptions
import pytest
from botocore.config import Config

from conftest import REGION

POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::data/*"},
        {"Effect": "Allow", "Action": "s3:ListAllMyBuckets", "Resource": "*"},
    ],
}


def client(service, endpoint, access, secret):
    return boto3.client(
        service,
        endpoint_url=endpoint,
        aws_access_key_id=access,
        aws_secret_access_key=secret,
        region_name=REGION,
        config=Config(retries={"max_attempts": 1}),
    )


@pytest.fixture
def iam(endpoint, credentials):
    return client("iam", endpoint, *credentials)


def error_code(call, *args, **kwargs):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        call(*args, **kwargs)
    return e.value.response["Error"]["Code"]


def test_boto3_manages_users_keys_and_policies(iam, endpoint):
    name = f"py-{uuid.uuid4().hex[:8]}"
    user = iam.create_user(UserName=name, Tags=[{"Key": "team", "Value": "qa"}])["User"]
    assert user["Arn"] == f"arn:aws:iam::000000000000:user/{name}"
    assert error_code(iam.create_user, UserName=name) == "EntityAlreadyExists"
    assert error_code(iam.get_user, UserName=name + "-none") == "NoSuchEntity"

    key = iam.create_access_key(UserName=name)["AccessKey"]
    assert key["Status"] == "Active" and len(key["SecretAccessKey"]) == 40
    s3 = client("s3", endpoint, key["AccessKeyId"], key["SecretAccessKey"])
    # Signed and known, but no policy allows anything yet.
    assert error_code(s3.list_buckets) == "AccessDenied"
    listed = iam.list_access_keys(UserName=name)["AccessKeyMetadata"]
    assert [k["AccessKeyId"] for k in listed] == [key["AccessKeyId"]]
    assert "SecretAccessKey" not in listed[0]

    iam.put_user_policy(UserName=name, PolicyName="read", PolicyDocument=json.dumps(POLICY))
    s3.list_buckets()
    got = iam.get_user_policy(UserName=name, PolicyName="read")
    # boto3 decodes the URL-encoded document into a dict, as from AWS.
    assert got["PolicyDocument"] == POLICY
    bad = {"Version": "2012-10-17", "Statement": [{"Effect": "Maybe", "Action": "s3:*", "Resource": "*"}]}
    assert error_code(iam.put_user_policy, UserName=name, PolicyName="bad",
                      PolicyDocument=json.dumps(bad)) == "MalformedPolicyDocument"
    assert iam.list_user_policies(UserName=name)["PolicyNames"] == ["read"]

    # The user's own key may not manage IAM.
    own = client("iam", endpoint, key["AccessKeyId"], key["SecretAccessKey"])
    assert error_code(own.list_users) == "AccessDenied"
    assert own.get_user()["User"]["UserName"] == name

    iam.update_access_key(UserName=name, AccessKeyId=key["AccessKeyId"], Status="Inactive")
    assert error_code(s3.list_buckets) == "InvalidAccessKeyId"
    assert error_code(iam.delete_user, UserName=name) == "DeleteConflict"
    iam.delete_access_key(UserName=name, AccessKeyId=key["AccessKeyId"])
    iam.delete_user_policy(UserName=name, PolicyName="read")
    iam.delete_user(UserName=name)
    assert error_code(iam.get_user, UserName=name) == "NoSuchEntity"


def test_boto3_pages_users_with_its_paginator(iam):
    prefix = f"pg{uuid.uuid4().hex[:6]}"
    names = sorted(f"{prefix}-{i}" for i in range(5))
    for n in names:
        iam.create_user(UserName=n, Path=f"/{prefix}/")
    pages = list(iam.get_paginator("list_users").paginate(
        PathPrefix=f"/{prefix}/", PaginationConfig={"PageSize": 2}))
    assert len(pages) == 3
    assert [u["UserName"] for p in pages for u in p["Users"]] == names
    for n in names:
        iam.delete_user(UserName=n)


def test_aws_cli_iam_commands(aws_bin, aws_env, endpoint):
    def aws(*args):
        p = subprocess.run([aws_bin, "--endpoint-url", endpoint, "--output", "json", "iam", *args],
                           env=aws_env, capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, f"aws iam {' '.join(args)} failed:\n{p.stdout}\n{p.stderr}"
        return json.loads(p.stdout) if p.stdout.strip() else None

    name = f"cli-{uuid.uuid4().hex[:8]}"
    assert aws("create-user", "--user-name", name)["User"]["UserName"] == name
    key = aws("create-access-key", "--user-name", name)["AccessKey"]
    assert key["UserName"] == name and key["SecretAccessKey"]
    aws("put-user-policy", "--user-name", name, "--policy-name", "read",
        "--policy-document", json.dumps(POLICY))
    assert aws("get-user-policy", "--user-name", name, "--policy-name", "read")["PolicyDocument"] == POLICY
    assert name in [u["UserName"] for u in aws("list-users")["Users"]]
    env = dict(aws_env, AWS_ACCESS_KEY_ID=key["AccessKeyId"], AWS_SECRET_ACCESS_KEY=key["SecretAccessKey"])
    p = subprocess.run([aws_bin, "--endpoint-url", endpoint, "s3api", "list-buckets"],
                       env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    aws("delete-user-policy", "--user-name", name, "--policy-name", "read")
    aws("delete-access-key", "--user-name", name, "--access-key-id", key["AccessKeyId"])
    aws("delete-user", "--user-name", name)
