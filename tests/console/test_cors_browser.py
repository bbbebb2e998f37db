"""Bucket CORS as a browser enforces it: a page served from a second
loopback origin (another port) uploads and downloads an object with
`fetch` and presigned URLs. Without a CORS rule Chromium refuses both;
with one naming the page's origin the bytes round-trip."""

import http.server
import threading

import pytest

from conftest import Page, free_port

PAGE = b"<!doctype html><title>cors page</title><p>another origin</p>"

# Runs in the page: PUT then GET through the presigned URLs.
ROUND_TRIP = """async ({put, get, data}) => {
  try {
    if (put) {
      const p = await fetch(put, {method: 'PUT', body: new Uint8Array(data)});
      if (!p.ok) return {error: 'put ' + p.status};
    }
    const g = await fetch(get);
    if (!g.ok) return {error: 'get ' + g.status};
    return {bytes: Array.from(new Uint8Array(await g.arrayBuffer()))};
  } catch (e) {
    return {blocked: String(e)};
  }
}"""


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(PAGE)))
        self.end_headers()
        self.wfile.write(PAGE)

    def log_message(self, *args):
        pass


@pytest.fixture
def other_origin():
    """A page server on another loopback port: a different origin."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), _Handler)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_page_on_another_origin_round_trips_bytes_only_with_a_cors_rule(
    browser, node, s3, bucket, other_origin
):
    data = bytes((i * 7 + 3) % 256 for i in range(20_000))
    put = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "from-page"})
    get = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "from-page"})
    page = Page(browser, node)
    # Chromium logs each refusal as a console error.
    page.allow("CORS policy")
    page.allow("Failed to load resource")
    try:
        page.page.goto(other_origin + "/")

        # No rule: the preflight of the PUT is refused, nothing is written.
        r = page.page.evaluate(ROUND_TRIP, {"put": put, "get": get, "data": list(data)})
        assert "blocked" in r, r
        with pytest.raises(s3.exceptions.ClientError):
            s3.head_object(Bucket=bucket, Key="from-page")
        # Nor can the page read an object that is there.
        s3.put_object(Bucket=bucket, Key="from-page", Body=b"already here")
        r = page.page.evaluate(ROUND_TRIP, {"put": None, "get": get, "data": []})
        assert "blocked" in r, r
        assert any("CORS policy" in e for e in page.errors), page.errors

        # A rule for the page's origin: PUT and GET go through.
        s3.put_bucket_cors(
            Bucket=bucket,
            CORSConfiguration={"CORSRules": [{
                "AllowedOrigins": [other_origin],
                "AllowedMethods": ["PUT", "GET"],
                "AllowedHeaders": ["*"],
            }]},
        )
        r = page.page.evaluate(ROUND_TRIP, {"put": put, "get": get, "data": list(data)})
        assert "bytes" in r, r
        assert bytes(r["bytes"]) == data
        got = s3.get_object(Bucket=bucket, Key="from-page")["Body"].read()
        assert got == data
        assert not page.unexpected_errors(), page.errors
    finally:
        page.context.close()
