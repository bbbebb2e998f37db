"""Signature Version 2, as boto3 still produces it: presigned URLs at its
defaults (no signature version pinned), and a client pinned to
signature_version='s3' (HmacV1, the Authorization: AWS header)."""

import http.client
import time
import urllib.parse
import urllib.request

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError


def client(endpoint, credentials, region="us-east-1", **config):
    access, secret = credentials
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=access,
        aws_secret_access_key=secret,
        region_name=region,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}, **config),
    )


def fetch(url, data=None, method="GET"):
    """(status, body); no header added (urllib would add a Content-Type
    to a PUT, which the URL did not sign)."""
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    try:
        conn.request(method, f"{u.path}?{u.query}", body=data)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-1"])
def test_default_presigned_urls_are_sigv2_and_work(endpoint, credentials, s3, bucket, region):
    c = client(endpoint, credentials, region)
    s3.put_object(Bucket=bucket, Key="dir/a b+c", Body=b"presigned v2")
    url = c.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "dir/a b+c"}, ExpiresIn=300)
    # What boto3 produces today for a custom endpoint, in either region.
    assert "AWSAccessKeyId=" in url and "Signature=" in url and "Expires=" in url, url
    assert "X-Amz-Algorithm" not in url, url
    assert fetch(url) == (200, b"presigned v2")

    put = c.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "up"}, ExpiresIn=300)
    assert "AWSAccessKeyId=" in put, put
    status, _ = fetch(put, data=b"uploaded with v2", method="PUT")
    assert status == 200
    assert s3.get_object(Bucket=bucket, Key="up")["Body"].read() == b"uploaded with v2"

    # Response overrides are sub-resources: signed, and honoured.
    url = c.generate_presigned_url(
        "get_object",
        Params={"Bucket": bucket, "Key": "up", "ResponseContentType": "text/x-v2"},
        ExpiresIn=300,
    )
    with urllib.request.urlopen(url) as r:
        assert r.headers["Content-Type"] == "text/x-v2"

    # Tampering with a signed part of the URL is refused.
    status, body = fetch(url.replace("text%2Fx-v2", "text%2Fhtml"))
    assert status == 403 and b"<Code>SignatureDoesNotMatch</Code>" in body


def test_an_expired_default_presigned_url_is_refused(endpoint, credentials, s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    url = client(endpoint, credentials).generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "k"}, ExpiresIn=1
    )
    time.sleep(2.5)
    status, body = fetch(url)
    assert status == 403
    assert b"<Code>AccessDenied</Code>" in body and b"Request has expired" in body


def test_signature_version_s3_client_operations(endpoint, credentials, bucket):
    c = client(endpoint, credentials, signature_version="s3")
    c.put_object(Bucket=bucket, Key="v2/obj", Body=b"hello v2", ContentType="text/plain",
                 Metadata={"who": "hmacv1"})
    head = c.head_object(Bucket=bucket, Key="v2/obj")
    assert head["ContentType"] == "text/plain"
    assert head["Metadata"] == {"who": "hmacv1"}
    assert c.get_object(Bucket=bucket, Key="v2/obj", Range="bytes=0-4")["Body"].read() == b"hello"
    assert [o["Key"] for o in c.list_objects_v2(Bucket=bucket, Prefix="v2/")["Contents"]] == ["v2/obj"]

    # Sub-resources in the signed resource: tagging, uploads, uploadId, partNumber, delete.
    c.put_object_tagging(Bucket=bucket, Key="v2/obj", Tagging={"TagSet": [{"Key": "t", "Value": "1"}]})
    assert c.get_object_tagging(Bucket=bucket, Key="v2/obj")["TagSet"] == [{"Key": "t", "Value": "1"}]
    part = b"p" * (5 * 1024 * 1024)
    mpu = c.create_multipart_upload(Bucket=bucket, Key="v2/mpu")
    etags = [
        c.upload_part(Bucket=bucket, Key="v2/mpu", UploadId=mpu["UploadId"], PartNumber=n, Body=body)["ETag"]
        for n, body in [(1, part), (2, b"tail")]
    ]
    c.complete_multipart_upload(
        Bucket=bucket, Key="v2/mpu", UploadId=mpu["UploadId"],
        MultipartUpload={"Parts": [{"ETag": e, "PartNumber": n} for n, e in enumerate(etags, 1)]},
    )
    assert c.head_object(Bucket=bucket, Key="v2/mpu")["ContentLength"] == len(part) + 4
    c.copy_object(Bucket=bucket, Key="v2/copy", CopySource={"Bucket": bucket, "Key": "v2/obj"})
    r = c.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "v2/obj"}, {"Key": "v2/copy"}]})
    assert sorted(d["Key"] for d in r["Deleted"]) == ["v2/copy", "v2/obj"]


def test_signature_version_s3_with_a_wrong_secret_is_refused(endpoint, credentials, bucket):
    access, _ = credentials
    c = client(endpoint, (access, "not-the-secret"), signature_version="s3")
    with pytest.raises(ClientError) as e:
        c.list_objects_v2(Bucket=bucket)
    assert e.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_sse_kms_needs_sigv4_as_s3_requires(endpoint, credentials, s3, bucket):
    v2 = client(endpoint, credentials, signature_version="s3")

    def refused(call, **kw):
        with pytest.raises(ClientError) as e:
            call(Bucket=bucket, **kw)
        err = e.value.response
        assert (err["Error"]["Code"], err["ResponseMetadata"]["HTTPStatusCode"]) == ("InvalidArgument", 400)
        assert "Signature Version 4" in err["Error"]["Message"]

    refused(v2.put_object, Key="kms", Body=b"x", ServerSideEncryption="aws:kms")
    s3.put_object(Bucket=bucket, Key="kms", Body=b"sealed under kms", ServerSideEncryption="aws:kms")
    refused(v2.get_object, Key="kms")
    refused(v2.copy_object, Key="copy", CopySource={"Bucket": bucket, "Key": "kms"})
    # HEAD reads no data: it answers, with the object's encryption.
    assert v2.head_object(Bucket=bucket, Key="kms")["ServerSideEncryption"] == "aws:kms"
    assert s3.get_object(Bucket=bucket, Key="kms")["Body"].read() == b"sealed under kms"
    # A SigV2 presigned URL (boto3's default) is refused too; SigV4's works.
    url = client(endpoint, credentials).generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "kms"})
    assert "AWSAccessKeyId=" in url
    status, body = fetch(url)
    assert status == 400 and b"<Code>InvalidArgument</Code>" in body
    v4 = client(endpoint, credentials, signature_version="s3v4")
    url = v4.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "kms"})
    assert fetch(url) == (200, b"sealed under kms")
    # SSE-S3 has no such rule.
    v2.put_object(Bucket=bucket, Key="sse-s3", Body=b"plain v2", ServerSideEncryption="AES256")
    got = v2.get_object(Bucket=bucket, Key="sse-s3")
    assert (got["ServerSideEncryption"], got["Body"].read()) == ("AES256", b"plain v2")
