"""Edges of S3 behaviour as boto3 meets them (issue 11), written from
AWS's documentation: listings of keys with spaces (botocore asks for
encoding-type=url and decodes), conditional writes, checksums returned by
PutObject and GetObjectAttributes, the x-amz-tagging header, partNumber past
the parts."""

import base64
import hashlib
import os
import urllib.request

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError


def code(exc_info):
    return exc_info.value.response["Error"]["Code"]


def status(exc_info):
    return exc_info.value.response["ResponseMetadata"]["HTTPStatusCode"]


def test_keys_with_spaces_and_plus_list_back_exactly(s3, bucket):
    keys = ["a b.txt", "a+b.txt", "dir one/x y", "100%.csv"]
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=b"x")
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert listed == sorted(keys)
    v1 = [o["Key"] for o in s3.list_objects(Bucket=bucket)["Contents"]]
    assert v1 == sorted(keys)
    prefixes = s3.list_objects_v2(Bucket=bucket, Delimiter="/")["CommonPrefixes"]
    assert [p["Prefix"] for p in prefixes] == ["dir one/"]
    versions = [v["Key"] for v in s3.list_object_versions(Bucket=bucket)["Versions"]]
    assert versions == sorted(keys)
    # Pages of one key, each continued with the token of the last.
    pages = s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, PaginationConfig={"PageSize": 1}
    )
    assert [o["Key"] for p in pages for o in p.get("Contents", [])] == sorted(keys)


def test_conditional_writes(s3, bucket):
    etag = s3.put_object(Bucket=bucket, Key="k", Body=b"one")["ETag"]
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k", Body=b"two", IfNoneMatch=etag)
    assert (status(e), code(e)) == (412, "PreconditionFailed")
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k", Body=b"two", IfNoneMatch="*")
    assert code(e) == "PreconditionFailed"
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="missing", Body=b"x", IfMatch=etag)
    assert (status(e), code(e)) == (404, "NoSuchKey")
    s3.put_object(Bucket=bucket, Key="k", Body=b"two", IfMatch=etag)
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"two"


def test_checksums_and_object_attributes(s3, bucket):
    body = os.urandom(100_000)
    r = s3.put_object(Bucket=bucket, Key="k", Body=body, ChecksumAlgorithm="SHA256")
    want = base64.b64encode(hashlib.sha256(body).digest()).decode()
    assert r["ChecksumSHA256"] == want
    assert r["ChecksumType"] == "FULL_OBJECT"
    a = s3.get_object_attributes(
        Bucket=bucket,
        Key="k",
        ObjectAttributes=["ETag", "Checksum", "ObjectSize", "StorageClass", "ObjectParts"],
    )
    assert a["ETag"] == r["ETag"].strip('"')
    assert a["Checksum"]["ChecksumSHA256"] == want
    assert a["ObjectSize"] == len(body)
    assert a["StorageClass"] == "STANDARD"
    assert "ObjectParts" not in a


def test_default_crc64nvme_for_a_presigned_put(s3, endpoint, credentials, bucket):
    """A presigned PUT carries no checksum: the object gets S3's default
    CRC64NVME, which GetObjectAttributes and checksum-mode HEAD report."""
    access, secret = credentials
    signer = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=access,
        aws_secret_access_key=secret,
        region_name="us-east-1",
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )
    url = signer.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "p"})
    req = urllib.request.Request(url, data=b"hello", method="PUT")
    with urllib.request.urlopen(req) as resp:
        assert resp.status == 200
        sent_back = resp.headers["x-amz-checksum-crc64nvme"]
    a = s3.get_object_attributes(Bucket=bucket, Key="p", ObjectAttributes=["Checksum"])
    assert a["Checksum"]["ChecksumCRC64NVME"] == sent_back
    assert a["Checksum"]["ChecksumType"] == "FULL_OBJECT"
    h = s3.head_object(Bucket=bucket, Key="p", ChecksumMode="ENABLED")
    assert h["ChecksumCRC64NVME"] == sent_back


def test_tagging_header(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", Tagging="flag&team=storage")
    tags = s3.get_object_tagging(Bucket=bucket, Key="k")["TagSet"]
    assert tags == [{"Key": "flag", "Value": ""}, {"Key": "team", "Value": "storage"}]
    with pytest.raises(ClientError) as e:
        s3.put_object(
            Bucket=bucket, Key="many", Body=b"x", Tagging="&".join(f"k{i}=v" for i in range(11))
        )
    assert (status(e), code(e)) == (400, "InvalidTag")


def test_part_number_past_the_parts(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"0123456789")
    assert s3.get_object(Bucket=bucket, Key="k", PartNumber=1)["Body"].read() == b"0123456789"
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="k", PartNumber=2)
    assert (status(e), code(e)) == (400, "InvalidPartNumber")
