"""rclone against an on-the-fly remote (no config file): copy a small tree
up and back, and `rclone check` it (sizes and MD5 ETags); and files above a
small upload cutoff, which rclone sends as multipart uploads and fetches
with several ranged GETs."""

import filecmp
import os
import subprocess

import pytest

RCLONE = os.environ.get("CAIRN_RCLONE", "")
SKIP = os.environ.get("CAIRN_RCLONE_SKIP", "") or ("" if RCLONE else "rclone not found")

pytestmark = pytest.mark.skipif(bool(SKIP), reason=f"rclone tests skipped: {SKIP}")


@pytest.fixture
def rclone(endpoint, credentials, tmp_path):
    access, secret = credentials
    # Nothing from the caller's AWS settings (an AWS_CA_BUNDLE, say, breaks
    # rclone's plain-HTTP transport).
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RCLONE_"))}
    env.update(
        RCLONE_CONFIG=str(tmp_path / "rclone.conf"),
        RCLONE_CONFIG_CAIRN_TYPE="s3",
        RCLONE_CONFIG_CAIRN_PROVIDER="Other",
        RCLONE_CONFIG_CAIRN_ENV_AUTH="false",
        RCLONE_CONFIG_CAIRN_ACCESS_KEY_ID=access,
        RCLONE_CONFIG_CAIRN_SECRET_ACCESS_KEY=secret,
        RCLONE_CONFIG_CAIRN_ENDPOINT=endpoint,
        RCLONE_CONFIG_CAIRN_REGION="us-east-1",
        RCLONE_CONFIG_CAIRN_FORCE_PATH_STYLE="true",
    )

    def run(*args):
        p = subprocess.run([RCLONE, "--retries", "1", "--low-level-retries", "1", *args],
                           env=env, capture_output=True, text=True, timeout=300)
        if p.returncode != 0:
            raise AssertionError(f"rclone {' '.join(args)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
        return p
    return run


def test_copy_check_and_back(rclone, bucket, tmp_path):
    src = tmp_path / "src"
    for rel, data in {
        "one.txt": b"one\n",
        "dir/two.bin": os.urandom(200_000),
        "dir/sub/three.txt": b"three " * 500,
        "zero": b"",
    }.items():
        p = src / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    rclone("copy", str(src), f"cairn:{bucket}/tree")
    rclone("check", str(src), f"cairn:{bucket}/tree")
    listed = sorted(rclone("lsf", "-R", "--files-only", f"cairn:{bucket}/tree").stdout.split())
    assert listed == ["dir/sub/three.txt", "dir/two.bin", "one.txt", "zero"]
    back = tmp_path / "back"
    rclone("copy", f"cairn:{bucket}/tree", str(back))
    for rel in listed:
        assert filecmp.cmp(src / rel, back / rel, shallow=False), rel


def test_multipart_copy_check_and_back(rclone, bucket, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    files = {"big.bin": os.urandom(23 * 1024 * 1024 + 5), "small.txt": b"small\n"}
    for name, data in files.items():
        (src / name).write_bytes(data)
    multipart = ["--s3-upload-cutoff", "5M", "--s3-chunk-size", "5M", "--s3-upload-concurrency", "4"]
    rclone(*multipart, "copy", str(src), f"cairn:{bucket}/mp")
    # Multipart ETags are no MD5: rclone checks the MD5 it stored as metadata.
    rclone("check", str(src), f"cairn:{bucket}/mp")
    back = tmp_path / "back"
    rclone("--multi-thread-cutoff", "5M", "--multi-thread-streams", "4",
           "copy", f"cairn:{bucket}/mp", str(back))
    for name in files:
        assert filecmp.cmp(src / name, back / name, shallow=False), name
