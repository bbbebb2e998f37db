"""PostObject: browser-style uploads with a POST policy.

boto3's generate_presigned_post makes the policy and its signature; the
form is sent with urllib3 (which botocore brings), and, in the Chromium
test, by a real browser: a page served from 127.0.0.1 holds forms whose
fields come from the policy, a script in the page builds the file and
submits them, and the SDK then checks what landed.
"""

import http.server
import json
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.parse

import boto3
import pytest
import urllib3
from botocore.config import Config


def _post(url, fields, content, filename="upload.bin"):
    body = list(fields.items()) + [("file", (filename, content, "application/octet-stream"))]
    return urllib3.request("POST", url, fields=body, retries=False, redirect=False)


@pytest.mark.parametrize("signature", ["default", "s3v4"])
def test_boto3_presigned_post_uploads_and_its_conditions_hold(s3, bucket, endpoint, credentials, signature):
    # At its defaults boto3 signs a us-east-1 POST policy with SigV2
    # (AWSAccessKeyId, signature); s3v4 gives the x-amz-* fields.
    if signature == "s3v4":
        access, secret = credentials
        s3 = boto3.client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id=access,
            aws_secret_access_key=secret,
            region_name="us-east-1",
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
        )
    post = s3.generate_presigned_post(
        Bucket=bucket,
        Key="posted/${filename}",
        Fields={"Content-Type": "text/plain", "x-amz-meta-origin": "boto3"},
        Conditions=[
            ["starts-with", "$key", "posted/"],
            {"Content-Type": "text/plain"},
            {"x-amz-meta-origin": "boto3"},
            ["content-length-range", 1, 4096],
        ],
        ExpiresIn=600,
    )
    want = "x-amz-signature" if signature == "s3v4" else "signature"
    assert want in post["fields"], post["fields"]
    r = _post(post["url"], post["fields"], b"hello from boto3", "note.txt")
    assert r.status == 204, r.data
    head = s3.head_object(Bucket=bucket, Key="posted/note.txt")
    assert head["ContentType"] == "text/plain"
    assert head["Metadata"] == {"origin": "boto3"}
    got = s3.get_object(Bucket=bucket, Key="posted/note.txt")["Body"].read()
    assert got == b"hello from boto3"

    # Over the size range, and a field changed after signing: refused, and
    # nothing lands.
    r = _post(post["url"], post["fields"], b"x" * 4097, "big.txt")
    assert r.status == 400 and b"<Code>EntityTooLarge</Code>" in r.data, r.data
    tampered = dict(post["fields"], **{"x-amz-meta-origin": "someone else"})
    r = _post(post["url"], tampered, b"tampered", "evil.txt")
    assert r.status == 403 and b"<Code>AccessDenied</Code>" in r.data, r.data
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert keys == ["posted/note.txt"]


CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>upload</title></head><body>
<form id="bad" action="{url}" method="post" enctype="multipart/form-data">{bad_inputs}
  <input type="file" name="file"></form>
<form id="good" action="{url}" method="post" enctype="multipart/form-data">{good_inputs}
  <input type="file" name="file"></form>
<script>
function attach(form, name, text) {{
  const dt = new DataTransfer();
  dt.items.add(new File([text], name, {{type: "text/plain"}}));
  form.querySelector("input[type=file]").files = dt.files;
}}
(async () => {{
  const bad = document.getElementById("bad");
  attach(bad, "nope.txt", "must not land");
  // The violating form goes first; its answer (opaque) is awaited.
  try {{
    await fetch(bad.action, {{method: "POST", mode: "no-cors", body: new FormData(bad)}});
    await fetch("/bad-done");
  }} catch (e) {{
    await fetch("/bad-failed?" + encodeURIComponent(String(e)));
  }}
  const good = document.getElementById("good");
  attach(good, "hello.txt", {content});
  good.submit();
}})();
</script></body></html>
"""


def _inputs(fields):
    esc = lambda s: s.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")
    return "".join(f'\n  <input type="hidden" name="{esc(k)}" value="{esc(v)}">' for k, v in fields.items())


def _chromium():
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return None


def test_chromium_submits_a_policy_form_and_the_object_lands(s3, bucket, endpoint, credentials):
    chromium = _chromium()
    if chromium is None:
        pytest.skip("chromium is not installed (apt-get install chromium)")
    hits = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            if self.path == "/page.html":
                body = page.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
            else:
                body = b"ok"
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    site = f"http://127.0.0.1:{srv.server_address[1]}"
    content = "Hello from Chromium \u2713"
    # A SigV4 policy, as browser apps get from the JS SDK's createPresignedPost.
    access, secret = credentials
    signer = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=access,
        aws_secret_access_key=secret,
        region_name="us-east-1",
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )
    good = signer.generate_presigned_post(
        Bucket=bucket,
        Key="browser/${filename}",
        Fields={
            "Content-Type": "text/plain;charset=utf-8",
            "x-amz-meta-uploader": "chromium",
            "success_action_redirect": f"{site}/done",
        },
        Conditions=[
            ["starts-with", "$key", "browser/"],
            ["starts-with", "$Content-Type", "text/"],
            {"x-amz-meta-uploader": "chromium"},
            {"success_action_redirect": f"{site}/done"},
            ["content-length-range", 1, 1024],
        ],
        ExpiresIn=600,
    )
    # Signed for "browser/…", sent with another key: the policy refuses it.
    bad_fields = dict(good["fields"], key="elsewhere/${filename}")
    page = PAGE.format(
        url=good["url"],
        bad_inputs=_inputs(bad_fields),
        good_inputs=_inputs(good["fields"]),
        content=json.dumps(content),
    )
    profile = tempfile.mkdtemp(prefix="cairn-chromium-")
    proc = subprocess.Popen(
        [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"{site}/page.html"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.time() + 90
        while time.time() < deadline and not any(h.startswith("/done") for h in hits):
            if proc.poll() is not None:
                break
            time.sleep(0.2)
    finally:
        proc.terminate()
        try:
            _, err = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
        srv.shutdown()
        shutil.rmtree(profile, ignore_errors=True)
    done = [h for h in hits if h.startswith("/done")]
    assert done, f"no redirect reached the page's server; hits={hits} chromium stderr={err[-2000:]!r}"
    assert "/bad-done" in hits, hits
    # The 303 carried bucket, key and ETag.
    q = urllib.parse.parse_qs(urllib.parse.urlparse(done[0]).query)
    assert q["bucket"] == [bucket] and q["key"] == ["browser/hello.txt"], q
    head = s3.head_object(Bucket=bucket, Key="browser/hello.txt")
    assert q["etag"] == [head["ETag"]], (q, head["ETag"])
    assert head["ContentType"] == "text/plain;charset=utf-8"
    assert head["Metadata"] == {"uploader": "chromium"}
    got = s3.get_object(Bucket=bucket, Key="browser/hello.txt")["Body"].read()
    assert got == content.encode()
    # The violating form left nothing.
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert keys == ["browser/hello.txt"], keys
