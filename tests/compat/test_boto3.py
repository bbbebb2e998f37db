"""boto3 at its default settings: CRC32 checksums on uploads (aws-chunked
trailers where botocore chooses them), paginators, batch deletes."""

import hashlib
import io
import os
import urllib.request

import boto3
import pytest
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError


def code(exc_info):
    return exc_info.value.response["Error"]["Code"]


def status(exc_info):
    return exc_info.value.response["ResponseMetadata"]["HTTPStatusCode"]


def test_bucket_crud(s3):
    name = "compat-bucket-crud"
    s3.create_bucket(Bucket=name)
    try:
        s3.head_bucket(Bucket=name)
        assert name in [b["Name"] for b in s3.list_buckets()["Buckets"]]
        with pytest.raises(ClientError) as e:
            s3.create_bucket(Bucket=name)
        assert code(e) == "BucketAlreadyOwnedByYou"
        assert s3.get_bucket_location(Bucket=name).get("LocationConstraint") is None
    finally:
        s3.delete_bucket(Bucket=name)
    with pytest.raises(ClientError) as e:
        s3.head_bucket(Bucket=name)
    assert status(e) == 404
    with pytest.raises(ClientError) as e:
        s3.create_bucket(Bucket="Not_A_Valid_Name")
    assert code(e) == "InvalidBucketName"


@pytest.mark.parametrize("size", [0, 1, 100 * 1024, 3 * 1024 * 1024 + 5])
def test_object_crud(s3, bucket, size):
    body = os.urandom(size)
    key = f"objects/{size}.bin"
    put = s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/x-test",
                        Metadata={"origin": "boto3"})
    etag = '"%s"' % hashlib.md5(body).hexdigest()
    assert put["ETag"] == etag
    head = s3.head_object(Bucket=bucket, Key=key)
    assert head["ContentLength"] == size
    assert head["ETag"] == etag
    assert head["ContentType"] == "application/x-test"
    assert head["Metadata"] == {"origin": "boto3"}
    got = s3.get_object(Bucket=bucket, Key=key)
    assert got["Body"].read() == body
    s3.delete_object(Bucket=bucket, Key=key)
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key=key)
    assert code(e) == "NoSuchKey"


def test_put_sends_default_checksum(s3, bucket):
    """What botocore sends by default is a CRC32 (header or trailer): the
    server verifies it and the object reads back exactly."""
    seen = {}

    def capture(request, **_):
        seen.update({k.lower(): v for k, v in request.headers.items()})

    s3.meta.events.register("before-send.s3.PutObject", capture)
    try:
        body = os.urandom(256 * 1024)
        # A file-like body is what botocore streams with aws-chunked.
        s3.put_object(Bucket=bucket, Key="checksummed", Body=io.BytesIO(body))
    finally:
        s3.meta.events.unregister("before-send.s3.PutObject", capture)
    assert "x-amz-checksum-crc32" in seen or seen.get("x-amz-trailer") == "x-amz-checksum-crc32", seen
    assert s3.get_object(Bucket=bucket, Key="checksummed")["Body"].read() == body


def test_ranges_and_conditionals(s3, bucket):
    body = bytes(range(256)) * 100
    etag = s3.put_object(Bucket=bucket, Key="r", Body=body)["ETag"]
    assert s3.get_object(Bucket=bucket, Key="r", Range="bytes=0-0")["Body"].read() == body[:1]
    assert s3.get_object(Bucket=bucket, Key="r", Range="bytes=-7")["Body"].read() == body[-7:]
    r = s3.get_object(Bucket=bucket, Key="r", Range="bytes=25000-")
    assert r["ContentRange"] == "bytes 25000-25599/25600"
    assert r["Body"].read() == body[25000:]
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="r", Range="bytes=25600-")
    assert code(e) == "InvalidRange"
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="r", IfNoneMatch=etag)
    assert status(e) == 304
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="r", IfMatch='"nope"')
    assert code(e) == "PreconditionFailed"


def test_copy(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"copy me", Metadata={"a": "1"})
    s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"})
    assert s3.get_object(Bucket=bucket, Key="dst")["Body"].read() == b"copy me"
    assert s3.head_object(Bucket=bucket, Key="dst")["Metadata"] == {"a": "1"}
    s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"},
                   MetadataDirective="REPLACE", Metadata={"b": "2"})
    assert s3.head_object(Bucket=bucket, Key="dst")["Metadata"] == {"b": "2"}
    # The managed copy (HeadObject, then CopyObject for small objects).
    s3.copy({"Bucket": bucket, "Key": "src"}, bucket, "managed")
    assert s3.get_object(Bucket=bucket, Key="managed")["Body"].read() == b"copy me"


def test_list_with_paginator(s3, bucket):
    keys = sorted([f"a/{i:04d}" for i in range(150)] + [f"b/c/{i:04d}" for i in range(60)] + ["top"])
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=b"")
    pages = list(s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, PaginationConfig={"PageSize": 50}))
    assert len(pages) == 5
    assert [o["Key"] for p in pages for o in p.get("Contents", [])] == keys

    pages = list(s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Delimiter="/"))
    prefixes = [c["Prefix"] for p in pages for c in p.get("CommonPrefixes", [])]
    assert prefixes == ["a/", "b/"]
    assert [o["Key"] for p in pages for o in p.get("Contents", [])] == ["top"]

    v1 = list(s3.get_paginator("list_objects").paginate(Bucket=bucket, Prefix="b/", PaginationConfig={"PageSize": 25}))
    assert [o["Key"] for p in v1 for o in p.get("Contents", [])] == [k for k in keys if k.startswith("b/")]


def test_delete_objects(s3, bucket):
    keys = [f"del/{i}" for i in range(30)]
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=b"x")
    r = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys] + [{"Key": "missing"}]})
    assert sorted(d["Key"] for d in r["Deleted"]) == sorted(keys + ["missing"])
    assert not r.get("Errors")
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_presigned_urls(endpoint, credentials, bucket):
    access, secret = credentials
    c = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=access, aws_secret_access_key=secret,
                     region_name="us-east-1",
                     config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))
    put_url = c.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "pre"}, ExpiresIn=300)
    req = urllib.request.Request(put_url, data=b"presigned body", method="PUT")
    with urllib.request.urlopen(req) as r:
        assert r.status == 200
    get_url = c.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "pre"}, ExpiresIn=300)
    with urllib.request.urlopen(get_url) as r:
        assert r.read() == b"presigned body"


def test_upload_fileobj_small(s3, bucket):
    body = os.urandom(5 * 1024 * 1024)
    s3.upload_fileobj(io.BytesIO(body), bucket, "small-upload")
    out = io.BytesIO()
    s3.download_fileobj(bucket, "small-upload", out)
    assert out.getvalue() == body


def test_upload_fileobj_multipart(s3, bucket):
    body = os.urandom(20 * 1024 * 1024)
    s3.upload_fileobj(io.BytesIO(body), bucket, "multipart",
                      Config=TransferConfig(multipart_threshold=8 * 1024 * 1024))
    out = io.BytesIO()
    s3.download_fileobj(bucket, "multipart", out)
    assert out.getvalue() == body
    assert s3.head_object(Bucket=bucket, Key="multipart")["ETag"].endswith('-3"')


def file_sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def test_upload_file_and_download_file_multipart(s3, bucket, tmp_path):
    """The transfer manager at small thresholds: parts up (CRC32 composite
    checksums, s3transfer's default) and ranged GETs down."""
    src = tmp_path / "src.bin"
    src.write_bytes(os.urandom(23 * 1024 * 1024 + 12345))
    cfg = TransferConfig(multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024,
                         max_concurrency=4)
    s3.upload_file(str(src), bucket, "dir/big.bin", Config=cfg)
    head = s3.head_object(Bucket=bucket, Key="dir/big.bin", ChecksumMode="ENABLED")
    assert head["ContentLength"] == src.stat().st_size
    assert head["ETag"].endswith('-5"')
    assert head["ChecksumType"] == "COMPOSITE" and head["ChecksumCRC32"].endswith("-5")
    dst = tmp_path / "dst.bin"
    s3.download_file(bucket, "dir/big.bin", str(dst), Config=cfg)
    assert file_sha256(dst) == file_sha256(src)


def test_multipart_api_full_object_crc32(s3, bucket):
    """The low-level calls: a FULL_OBJECT CRC32 upload's checksum is the CRC32
    of the whole object (which botocore also checks on GET), parts listed with
    theirs, and uploads listed and aborted."""
    import base64
    import zlib
    parts = [os.urandom(5 * 1024 * 1024), os.urandom(3 * 1024 * 1024 + 7)]
    up = s3.create_multipart_upload(Bucket=bucket, Key="full", ChecksumAlgorithm="CRC32",
                                    ChecksumType="FULL_OBJECT")
    assert (up["ChecksumAlgorithm"], up["ChecksumType"]) == ("CRC32", "FULL_OBJECT")
    uid = up["UploadId"]
    for n, body in enumerate(parts, 1):
        r = s3.upload_part(Bucket=bucket, Key="full", UploadId=uid, PartNumber=n, Body=body,
                           ChecksumAlgorithm="CRC32")
        assert r["ChecksumCRC32"] == base64.b64encode(zlib.crc32(body).to_bytes(4, "big")).decode()
    listed = s3.list_parts(Bucket=bucket, Key="full", UploadId=uid)
    assert [p["PartNumber"] for p in listed["Parts"]] == [1, 2]
    assert listed["ChecksumAlgorithm"] == "CRC32"
    other = s3.create_multipart_upload(Bucket=bucket, Key="other")["UploadId"]
    uploads = s3.list_multipart_uploads(Bucket=bucket)["Uploads"]
    assert sorted(u["Key"] for u in uploads) == ["full", "other"]
    s3.abort_multipart_upload(Bucket=bucket, Key="other", UploadId=other)
    with pytest.raises(ClientError) as e:
        s3.list_parts(Bucket=bucket, Key="other", UploadId=other)
    assert code(e) == "NoSuchUpload"
    done = s3.complete_multipart_upload(
        Bucket=bucket, Key="full", UploadId=uid,
        MultipartUpload={"Parts": [{"PartNumber": p["PartNumber"], "ETag": p["ETag"],
                                    "ChecksumCRC32": p["ChecksumCRC32"]} for p in listed["Parts"]]})
    whole = b"".join(parts)
    assert done["ChecksumCRC32"] == base64.b64encode(zlib.crc32(whole).to_bytes(4, "big")).decode()
    assert done["ChecksumType"] == "FULL_OBJECT"
    got = s3.get_object(Bucket=bucket, Key="full", ChecksumMode="ENABLED")
    assert got["Body"].read() == whole
    part2 = s3.get_object(Bucket=bucket, Key="full", PartNumber=2)
    assert part2["PartsCount"] == 2 and part2["Body"].read() == parts[1]


def test_wrong_secret(endpoint, credentials):
    access, _ = credentials
    bad = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=access, aws_secret_access_key="wrong-secret",
                       region_name="us-east-1", config=Config(s3={"addressing_style": "path"}))
    with pytest.raises(ClientError) as e:
        bad.list_buckets()
    assert code(e) == "SignatureDoesNotMatch"
