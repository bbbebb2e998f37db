"""The aws CLI (`aws s3` transfers and `aws s3api` calls) at its defaults."""

import filecmp
import hashlib
import json
import os
import pathlib
import subprocess
import tempfile

import pytest


@pytest.fixture
def aws(aws_bin, aws_env, endpoint):
    def run(*args, check=True):
        p = subprocess.run([aws_bin, "--endpoint-url", endpoint, *args], env=aws_env,
                           capture_output=True, text=True, timeout=300)
        if check and p.returncode != 0:
            raise AssertionError(f"aws {' '.join(args)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
        return p
    return run


def same_tree(a, b):
    cmp = filecmp.dircmp(a, b)
    if cmp.left_only or cmp.right_only or cmp.funny_files:
        return False
    _, mismatch, errors = filecmp.cmpfiles(a, b, cmp.common_files, shallow=False)
    if mismatch or errors:
        return False
    return all(same_tree(os.path.join(a, d), os.path.join(b, d)) for d in cmp.common_dirs)


def make_tree(root):
    files = {
        "a.txt": b"alpha\n",
        "empty": b"",
        "sub/b.bin": os.urandom(70_000),
        "sub/deeper/c.txt": b"charlie " * 100,
        "with space/d e.txt": b"spaces",
    }
    for rel, data in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return files


def test_mb_ls_rb(aws):
    aws("s3", "mb", "s3://compat-cli-mb")
    assert "compat-cli-mb" in aws("s3", "ls").stdout
    aws("s3", "rb", "s3://compat-cli-mb")
    assert "compat-cli-mb" not in aws("s3", "ls").stdout


def test_cp_up_and_down(aws, bucket, tmp_path):
    src = tmp_path / "up.bin"
    src.write_bytes(os.urandom(300_000))
    aws("s3", "cp", str(src), f"s3://{bucket}/dir/up.bin")
    listing = aws("s3", "ls", f"s3://{bucket}/dir/").stdout
    assert "up.bin" in listing and "300000" in listing
    dst = tmp_path / "down.bin"
    aws("s3", "cp", f"s3://{bucket}/dir/up.bin", str(dst))
    assert dst.read_bytes() == src.read_bytes()


def test_sync_tree_and_back(aws, bucket, tmp_path):
    up = tmp_path / "up"
    files = make_tree(up)
    aws("s3", "sync", str(up), f"s3://{bucket}/tree")
    listing = aws("s3", "ls", "--recursive", f"s3://{bucket}/tree/").stdout
    for rel in files:
        assert f"tree/{rel}" in listing
    # A second sync has nothing to do.
    assert aws("s3", "sync", str(up), f"s3://{bucket}/tree").stdout.strip() == ""
    down = tmp_path / "down"
    aws("s3", "sync", f"s3://{bucket}/tree", str(down))
    assert same_tree(up, down)
    aws("s3", "rm", "--recursive", f"s3://{bucket}/tree")
    assert aws("s3", "ls", "--recursive", f"s3://{bucket}/", check=False).stdout.strip() == ""


def test_s3api_calls(aws, bucket, tmp_path):
    src = tmp_path / "obj"
    src.write_bytes(b"s3api body " * 1000)
    put = json.loads(aws("s3api", "put-object", "--bucket", bucket, "--key", "k/obj", "--body", str(src),
                         "--content-type", "text/plain", "--metadata", "color=green").stdout)
    head = json.loads(aws("s3api", "head-object", "--bucket", bucket, "--key", "k/obj").stdout)
    assert head["ETag"] == put["ETag"]
    assert head["ContentLength"] == 11000
    assert head["ContentType"] == "text/plain"
    assert head["Metadata"] == {"color": "green"}
    out = tmp_path / "out"
    aws("s3api", "get-object", "--bucket", bucket, "--key", "k/obj", str(out))
    assert out.read_bytes() == src.read_bytes()
    listed = json.loads(aws("s3api", "list-objects-v2", "--bucket", bucket, "--prefix", "k/").stdout)
    assert [o["Key"] for o in listed["Contents"]] == ["k/obj"]
    missing = aws("s3api", "head-object", "--bucket", bucket, "--key", "nope", check=False)
    assert missing.returncode != 0 and "404" in missing.stderr


def file_sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def cp_both_ways(aws, bucket, tmp, size):
    """`aws s3 cp` of a random file up (multipart) and down (ranged GETs);
    returns the head of the object."""
    src = tmp / "up.bin"
    with open(src, "wb") as f:
        left = size
        while left:
            n = min(left, 16 << 20)
            f.write(os.urandom(n))
            left -= n
    aws("s3", "cp", str(src), f"s3://{bucket}/big")
    dst = tmp / "down.bin"
    aws("s3", "cp", f"s3://{bucket}/big", str(dst))
    assert dst.stat().st_size == size
    assert file_sha256(dst) == file_sha256(src)
    return json.loads(aws("s3api", "head-object", "--bucket", bucket, "--key", "big").stdout)


def test_cp_100mib_multipart(aws, bucket, tmp_path):
    head = cp_both_ways(aws, bucket, tmp_path, 100 * 1024 * 1024)
    # The CLI's 8 MiB chunks: 13 parts.
    assert head["ETag"].endswith('-13"'), head
    # Bucket to bucket: a multipart copy (UploadPartCopy with ranges).
    aws("s3", "cp", f"s3://{bucket}/big", f"s3://{bucket}/copy")
    copied = tmp_path / "copy.bin"
    aws("s3", "cp", f"s3://{bucket}/copy", str(copied))
    assert file_sha256(copied) == file_sha256(tmp_path / "up.bin")


def test_cp_1gib_multipart(aws, bucket):
    # /var/tmp, not the (possibly small, memory-backed) /tmp.
    with tempfile.TemporaryDirectory(dir="/var/tmp", prefix="cairn-compat-1g-") as tmp:
        head = cp_both_ways(aws, bucket, pathlib.Path(tmp), 1024 * 1024 * 1024)
        assert head["ContentLength"] == 1024 * 1024 * 1024
        assert head["ETag"].endswith('-128"'), head
