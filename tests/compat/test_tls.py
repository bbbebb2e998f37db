"""HTTPS and virtual-hosted-style addressing with boto3 and the aws CLI.

Starts a second cairn (the binary run.sh tests) with a self-signed
certificate made by the openssl command and `--domain s3.cairn.test`;
names under that domain resolve to loopback inside this process only.
"""

import os
import shutil
import socket
import subprocess
import time
import uuid

import boto3
import pytest
from botocore.config import Config

DOMAIN = "s3.cairn.test"


def _free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory, credentials):
    binary = os.environ.get("CAIRN_BIN")
    if not binary:
        pytest.skip("CAIRN_BIN is not set: run this suite through tests/compat/run.sh")
    openssl = shutil.which("openssl")
    if not openssl:
        pytest.skip("the openssl command is not installed")
    work = tmp_path_factory.mktemp("tls")
    cert, key = work / "cert.pem", work / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-days", "2", "-subj", f"/CN={DOMAIN}", "-keyout", str(key), "-out", str(cert),
         "-addext", f"subjectAltName=DNS:{DOMAIN},DNS:*.{DOMAIN},DNS:localhost"],
        check=True, capture_output=True)
    port = _free_port()
    access, secret = credentials
    env = dict(os.environ, CAIRN_ROOT_USER=access, CAIRN_ROOT_PASSWORD=secret)
    log = open(work / "server.log", "w")
    proc = subprocess.Popen(
        [binary, "serve", *(str(work / f"d{i}") for i in range(4)),
         "--listen", f"127.0.0.1:{port}", "--cores", "2", "--no-pin", "--partitions", "16",
         "--segment-size", str(64 << 20), "--tls-cert", str(cert), "--tls-key", str(key),
         "--domain", DOMAIN],
        env=env, stdout=subprocess.DEVNULL, stderr=log)
    try:
        deadline = time.time() + 30
        while True:
            assert proc.poll() is None, (work / "server.log").read_text()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.time() < deadline, "cairn with TLS did not start"
                time.sleep(0.1)
        yield port, str(cert)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture
def loopback_domain(monkeypatch):
    """Names under DOMAIN resolve to 127.0.0.1 (for this process)."""
    real = socket.getaddrinfo

    def fake(host, *args, **kwargs):
        if isinstance(host, str) and (host == DOMAIN or host.endswith("." + DOMAIN)):
            host = "127.0.0.1"
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)


def client(port, ca, style, credentials):
    access, secret = credentials
    return boto3.client(
        "s3", endpoint_url=f"https://{DOMAIN}:{port}", verify=ca,
        aws_access_key_id=access, aws_secret_access_key=secret, region_name="us-east-1",
        config=Config(s3={"addressing_style": style}, retries={"max_attempts": 1}))


def test_boto3_virtual_hosted_over_https(tls_server, loopback_domain, credentials):
    port, ca = tls_server
    vh = client(port, ca, "virtual", credentials)
    path = client(port, ca, "path", credentials)
    name = f"tls-{uuid.uuid4().hex[:12]}"
    vh.create_bucket(Bucket=name)
    body = os.urandom(5 * 1024 * 1024 + 17)
    vh.put_object(Bucket=name, Key="a/b.bin", Body=body, Metadata={"who": "boto3"})
    got = vh.get_object(Bucket=name, Key="a/b.bin")
    assert got["Body"].read() == body
    assert got["Metadata"] == {"who": "boto3"}
    # The same object through path style on the same listener.
    assert path.get_object(Bucket=name, Key="a/b.bin", Range="bytes=0-9")["Body"].read() == body[:10]
    keys = [o["Key"] for o in vh.list_objects_v2(Bucket=name)["Contents"]]
    assert keys == ["a/b.bin"]
    vh.delete_object(Bucket=name, Key="a/b.bin")
    vh.delete_bucket(Bucket=name)
    assert name not in [b["Name"] for b in path.list_buckets()["Buckets"]]


def test_untrusted_certificate_is_refused(tls_server, credentials):
    port, _ = tls_server
    access, secret = credentials
    c = boto3.client(
        "s3", endpoint_url=f"https://127.0.0.1:{port}", aws_access_key_id=access,
        aws_secret_access_key=secret, region_name="us-east-1",
        config=Config(retries={"max_attempts": 1}))
    with pytest.raises(Exception) as e:
        c.list_buckets()
    assert "SSL" in type(e.value).__name__ or "certificate" in str(e.value).lower()


def test_aws_cli_over_https(tls_server, aws_bin, aws_env, tmp_path):
    port, ca = tls_server
    endpoint = f"https://localhost:{port}"

    def aws(*args):
        p = subprocess.run([aws_bin, "--endpoint-url", endpoint, "--ca-bundle", ca, *args],
                           env=aws_env, capture_output=True, text=True, timeout=300)
        assert p.returncode == 0, f"aws {' '.join(args)}:\n{p.stdout}\n{p.stderr}"
        return p.stdout

    name = f"tls-cli-{uuid.uuid4().hex[:8]}"
    aws("s3", "mb", f"s3://{name}")
    src = tmp_path / "up.bin"
    src.write_bytes(os.urandom(2 * 1024 * 1024))
    aws("s3", "cp", str(src), f"s3://{name}/up.bin")
    dst = tmp_path / "down.bin"
    aws("s3", "cp", f"s3://{name}/up.bin", str(dst))
    assert dst.read_bytes() == src.read_bytes()
    aws("s3", "rm", f"s3://{name}/up.bin")
    aws("s3", "rb", f"s3://{name}")
