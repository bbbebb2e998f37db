"""STS AssumeRole as boto3 calls it (MinIO's form: a placeholder RoleArn,
credentials acting as the caller), and an S3 client using the temporary
credentials with their session token: header-signed calls and a presigned
URL at boto3's defaults."""

import datetime
import http.client
import urllib.parse

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

REGION = "us-east-1"


@pytest.fixture(scope="module")
def sts(endpoint, credentials):
    access, secret = credentials
    return boto3.client(
        "sts",
        endpoint_url=endpoint,
        aws_access_key_id=access,
        aws_secret_access_key=secret,
        region_name=REGION,
        config=Config(retries={"max_attempts": 1}),
    )


def temp_s3(endpoint, creds, token=None):
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"] if token is None else token,
        region_name=REGION,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


def test_assumed_credentials_work_with_s3(sts, endpoint, bucket):
    before = datetime.datetime.now(datetime.timezone.utc)
    out = sts.assume_role(
        RoleArn="arn:xxx:xxx:xxx:xxxx", RoleSessionName="compat", DurationSeconds=900
    )
    creds = out["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA")
    lasts = (creds["Expiration"] - before).total_seconds()
    assert 880 < lasts < 960, lasts

    s3 = temp_s3(endpoint, creds)
    s3.put_object(Bucket=bucket, Key="from-session", Body=b"temporary")
    assert s3.get_object(Bucket=bucket, Key="from-session")["Body"].read() == b"temporary"

    # boto3's default presigned URL (SigV2 for us-east-1) carries the token.
    url = s3.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "from-session"}, ExpiresIn=300
    )
    assert "security-token" in url.lower()
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    try:
        conn.request("GET", f"{u.path}?{u.query}")
        r = conn.getresponse()
        assert (r.status, r.read()) == (200, b"temporary")
    finally:
        conn.close()

    who = boto3.client(
        "sts",
        endpoint_url=endpoint,
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=REGION,
    ).get_caller_identity()
    assert who["Arn"] == "arn:aws:iam::000000000000:root"


def test_a_tampered_token_is_refused(sts, endpoint, bucket):
    creds = sts.assume_role(RoleArn="arn:xxx:xxx:xxx:xxxx", RoleSessionName="compat")[
        "Credentials"
    ]
    token = creds["SessionToken"]
    bad = token[:-1] + ("A" if token[-1] != "A" else "B")
    with pytest.raises(ClientError) as e:
        temp_s3(endpoint, creds, token=bad).list_objects_v2(Bucket=bucket)
    assert e.value.response["Error"]["Code"] == "InvalidToken"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_sts_errors_use_sts_codes(sts):
    with pytest.raises(ClientError) as e:
        sts.assume_role(
            RoleArn="arn:xxx:xxx:xxx:xxxx", RoleSessionName="compat", Policy="{not json"
        )
    assert e.value.response["Error"]["Code"] == "MalformedPolicyDocument"
