"""boto3 against versioning and tagging: the version paginator, delete
markers, reads by version id, object and bucket tags."""

import uuid

import pytest
from botocore.exceptions import ClientError


def code(exc_info):
    return exc_info.value.response["Error"]["Code"]


@pytest.fixture
def versioned(s3):
    name = f"compat-ver-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    yield name
    # Every version and marker must go before the bucket can.
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=name):
        doomed = [
            {"Key": v["Key"], "VersionId": v["VersionId"]}
            for v in page.get("Versions", []) + page.get("DeleteMarkers", [])
        ]
        if doomed:
            s3.delete_objects(Bucket=name, Delete={"Objects": doomed, "Quiet": True})
    s3.delete_bucket(Bucket=name)


def test_versions_markers_and_restore(s3, versioned):
    assert s3.get_bucket_versioning(Bucket=versioned)["Status"] == "Enabled"
    ids = [s3.put_object(Bucket=versioned, Key="doc", Body=f"rev{i}".encode())["VersionId"] for i in range(3)]
    for i, vid in enumerate(ids):
        got = s3.get_object(Bucket=versioned, Key="doc", VersionId=vid)
        assert got["Body"].read() == f"rev{i}".encode()
        assert got["VersionId"] == vid
    marker = s3.delete_object(Bucket=versioned, Key="doc")
    assert marker["DeleteMarker"] is True
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=versioned, Key="doc")
    assert code(e) == "NoSuchKey"
    assert e.value.response["ResponseMetadata"]["HTTPHeaders"]["x-amz-delete-marker"] == "true"

    # Many keys with several versions, paged two at a time.
    for k in range(5):
        for n in range(3):
            s3.put_object(Bucket=versioned, Key=f"many/{k}", Body=b"x" * n)
    listed = []
    for page in s3.get_paginator("list_object_versions").paginate(
        Bucket=versioned, PaginationConfig={"PageSize": 2}
    ):
        listed += [(v["Key"], v["VersionId"], v["IsLatest"]) for v in page.get("Versions", [])]
        listed += [(m["Key"], m["VersionId"], m["IsLatest"]) for m in page.get("DeleteMarkers", [])]
    assert len(listed) == 3 + 1 + 15
    assert len({(k, v) for k, v, _ in listed}) == len(listed), "no entry twice across pages"
    assert sum(1 for k, _, latest in listed if latest) == 6

    # Removing the marker restores the newest version.
    s3.delete_object(Bucket=versioned, Key="doc", VersionId=marker["VersionId"])
    assert s3.get_object(Bucket=versioned, Key="doc")["Body"].read() == b"rev2"

    s3.put_bucket_versioning(Bucket=versioned, VersioningConfiguration={"Status": "Suspended"})
    assert s3.put_object(Bucket=versioned, Key="doc", Body=b"null one")["VersionId"] == "null"
    assert s3.get_object(Bucket=versioned, Key="doc", VersionId="null")["Body"].read() == b"null one"


def test_object_and_bucket_tags(s3, versioned):
    v1 = s3.put_object(Bucket=versioned, Key="t", Body=b"1", Tagging="a=1&b=two")["VersionId"]
    s3.put_object(Bucket=versioned, Key="t", Body=b"2")
    tags = s3.get_object_tagging(Bucket=versioned, Key="t", VersionId=v1)["TagSet"]
    assert tags == [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "two"}]
    assert s3.get_object_tagging(Bucket=versioned, Key="t")["TagSet"] == []
    s3.put_object_tagging(Bucket=versioned, Key="t", Tagging={"TagSet": [{"Key": "c", "Value": "3"}]})
    assert s3.get_object(Bucket=versioned, Key="t")["TagCount"] == 1
    s3.delete_object_tagging(Bucket=versioned, Key="t")
    assert s3.get_object_tagging(Bucket=versioned, Key="t")["TagSet"] == []
    with pytest.raises(ClientError) as e:
        s3.put_object_tagging(
            Bucket=versioned, Key="t", Tagging={"TagSet": [{"Key": "k" * 129, "Value": "v"}]}
        )
    assert code(e) == "InvalidTag"

    with pytest.raises(ClientError) as e:
        s3.get_bucket_tagging(Bucket=versioned)
    assert code(e) == "NoSuchTagSet"
    s3.put_bucket_tagging(Bucket=versioned, Tagging={"TagSet": [{"Key": "env", "Value": "ci"}]})
    assert s3.get_bucket_tagging(Bucket=versioned)["TagSet"] == [{"Key": "env", "Value": "ci"}]
    s3.delete_bucket_tagging(Bucket=versioned)
