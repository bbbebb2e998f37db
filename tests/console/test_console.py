"""The web console in headless Chromium against the real binary.

Every action goes through the page (forms, buttons, links) and is checked
from outside with boto3 or the admin API's effects.
"""

import concurrent.futures
import json
import os
import pathlib
import re
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid

import pytest
from botocore.exceptions import ClientError
from playwright.sync_api import expect

from conftest import ROOT_KEY, ROOT_SECRET, Node, Page, empty_and_delete


def rows(p, selector):
    return p.page.locator(selector).count()


def test_sign_in_keeps_only_temporary_credentials_and_sign_out_clears_them(page):
    page.goto()
    # A wrong secret is refused with the node's error, shown in the page.
    page.allow("Failed to load resource")
    page.page.get_by_label("Access key").fill(ROOT_KEY)
    page.page.get_by_label("Secret key").fill("wrong")
    page.page.get_by_role("button", name="Sign in").click()
    page.page.get_by_role("alert").filter(has_text="SignatureDoesNotMatch").wait_for()
    page.sign_in()
    stored = page.page.evaluate("JSON.stringify(Object.assign({}, sessionStorage))")
    assert ROOT_SECRET not in stored
    session = json.loads(json.loads(stored)["cairn.console.session"])
    assert session["creds"]["accessKeyId"].startswith("ASIA"), session
    assert session["creds"]["sessionToken"]
    page.page.get_by_role("button", name="Sign out").click()
    page.page.get_by_role("button", name="Sign in").wait_for()
    assert page.page.evaluate("sessionStorage.length") == 0


def test_create_bucket_upload_through_the_page_and_boto3_reads_the_same_bytes(page, s3):
    name = f"con-up-{uuid.uuid4().hex[:8]}"
    page.sign_in()
    p = page.page
    p.get_by_label("New bucket").fill(name)
    p.get_by_role("button", name="Create bucket").click()
    p.get_by_role("link", name=name).click()
    p.get_by_role("heading", name=name).wait_for()
    content = os.urandom(3 * 1024 * 1024 + 17)
    p.get_by_label("Files to upload").set_input_files(
        files=[{"name": "photo one.bin", "mimeType": "application/x-test", "buffer": content}])
    p.get_by_role("button", name="Upload", exact=True).click()
    p.get_by_role("status").filter(has_text="Uploaded photo one.bin").wait_for()
    assert p.get_by_label("Upload progress").evaluate("e => e.value === e.max")
    p.get_by_role("link", name="photo one.bin").wait_for()
    got = s3.get_object(Bucket=name, Key="photo one.bin")
    assert got["Body"].read() == content
    assert got["ContentType"] == "application/x-test"
    page.screenshot("objects")
    s3.delete_object(Bucket=name, Key="photo one.bin")
    s3.delete_bucket(Bucket=name)


def test_a_prefix_of_10000_keys_is_browsed_a_page_of_1000_at_a_time(page, s3, bucket):
    keys = [f"many/k{i:05d}" for i in range(10_000)]

    def put(chunk):
        for k in chunk:
            s3.put_object(Bucket=bucket, Key=k, Body=b"x")

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        list(pool.map(put, [keys[i::16] for i in range(16)]))
    s3.put_object(Bucket=bucket, Key="top.txt", Body=b"top")
    page.sign_in()
    p = page.page
    requests = []
    p.on("request", lambda r: "list-type=2" in r.url and requests.append(r.url))
    page.goto(f"#/b/{bucket}")
    p.get_by_role("link", name="many/").click()
    p.get_by_text("0 folders, 1000 objects on this page").wait_for()
    assert p.get_by_role("link", name="k00000").is_visible()
    pages = 1
    while p.get_by_role("button", name="Next page").is_enabled():
        p.get_by_role("button", name="Next page").click()
        pages += 1
        p.locator(".page-no", has_text=f"Page {pages}").wait_for()
        p.get_by_text("objects on this page").wait_for()
        assert pages <= 11
    assert pages == 10
    p.get_by_role("link", name="k09999", exact=True).wait_for()
    assert rows(page, "tr[data-key]") == 1000
    assert not p.get_by_role("link", name="k00000").count()
    # Each page asked for at most 1000 keys: nothing listed the whole prefix.
    assert all("max-keys=1000" in u for u in requests), requests
    assert len(requests) >= 10
    p.get_by_role("button", name="Previous page").click()
    p.locator(".page-no", has_text="Page 9").wait_for()
    p.get_by_role("link", name="k08999", exact=True).wait_for()


def test_a_bucket_policy_saved_in_the_page_takes_effect(page, s3, bucket, node):
    s3.put_object(Bucket=bucket, Key="public/hello.txt", Body=b"hello")
    anon = node.client(unsigned=True)
    with pytest.raises(ClientError) as e:
        anon.get_object(Bucket=bucket, Key="public/hello.txt")
    assert e.value.response["Error"]["Code"] == "AccessDenied"
    page.sign_in()
    p = page.page
    page.goto(f"#/b/{bucket}/policy")
    editor = p.get_by_label("Policy document (JSON)")
    editor.fill("{not json")
    p.get_by_role("alert").filter(has_text="Not JSON").wait_for()
    assert p.get_by_role("button", name="Save policy").is_disabled()
    # Valid JSON the node refuses: its error is shown.
    page.allow("Failed to load resource")
    editor.fill(json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::other-bucket/*"}]}))
    p.get_by_role("button", name="Save policy").click()
    p.get_by_role("alert").filter(has_text="MalformedPolicy").wait_for()
    p.get_by_role("button", name="Public read template").click()
    p.get_by_role("button", name="Save policy").click()
    p.get_by_role("status").filter(has_text="Policy saved").wait_for()
    page.screenshot("bucket-policy")
    assert anon.get_object(Bucket=bucket, Key="public/hello.txt")["Body"].read() == b"hello"
    p.get_by_role("button", name="Delete policy").click()
    p.get_by_role("status").filter(has_text="Policy deleted").wait_for()
    with pytest.raises(ClientError) as e:
        anon.get_object(Bucket=bucket, Key="public/hello.txt")
    assert e.value.response["Error"]["Code"] == "AccessDenied"


def test_a_user_made_in_the_page_signs_in_and_sees_only_what_its_policy_allows(page, browser, node, s3):
    mine, other = f"con-mine-{uuid.uuid4().hex[:6]}", f"con-other-{uuid.uuid4().hex[:6]}"
    for b in (mine, other):
        s3.create_bucket(Bucket=b)
    s3.put_object(Bucket=mine, Key="doc.txt", Body=b"mine")
    s3.put_object(Bucket=other, Key="secret.txt", Body=b"no")
    user, policy = f"u{uuid.uuid4().hex[:6]}", f"p{uuid.uuid4().hex[:6]}"
    page.sign_in()
    p = page.page
    page.goto("#/policies")
    p.get_by_label("Name").fill(policy)
    p.get_by_label("Document (JSON)").fill(json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:ListAllMyBuckets", "Resource": "*"},
        {"Effect": "Allow", "Action": ["s3:ListBucket", "s3:GetObject", "s3:GetBucketVersioning"],
         "Resource": [f"arn:aws:s3:::{mine}", f"arn:aws:s3:::{mine}/*"]}]}))
    p.get_by_role("button", name="Create policy").click()
    p.get_by_role("link", name=policy).wait_for()
    page.goto("#/users")
    p.get_by_label("New user").fill(user)
    p.get_by_label("Policies (comma-separated)").fill(policy)
    p.get_by_role("button", name="Create user").click()
    p.get_by_role("link", name=user).click()
    p.get_by_role("heading", name=f"User {user}").wait_for()
    p.get_by_role("button", name="Create key").click()
    access = p.get_by_test_id("new-access-key").inner_text().strip()
    secret = p.get_by_test_id("new-secret-key").inner_text().strip()
    assert access and secret
    p.locator(f"tr[data-key='{access}']").wait_for()
    page.screenshot("user")

    as_user = Page(browser, node, viewport={"width": 1280, "height": 800})
    try:
        # The admin API and the other bucket refuse this user: the page asks,
        # is refused (Chromium logs each 403) and says so.
        as_user.allow("Failed to load resource: the server responded with a status of 403")
        as_user.sign_in(access, secret)
        q = as_user.page
        q.get_by_role("link", name=mine).wait_for()
        assert q.get_by_text("need the admin permission").is_visible()
        q.get_by_role("link", name=mine).click()
        q.get_by_role("link", name="doc.txt").wait_for()
        as_user.goto(f"#/b/{other}")
        q.get_by_role("alert").filter(has_text="AccessDenied").wait_for()
        as_user.goto("#/buckets")
        q.get_by_label("New bucket").fill(f"con-nope-{uuid.uuid4().hex[:6]}")
        q.get_by_role("button", name="Create bucket").click()
        q.get_by_role("alert").filter(has_text="AccessDenied").wait_for()
        as_user.goto("#/users")
        q.get_by_role("alert").filter(has_text="AccessDenied").wait_for()
        assert not as_user.unexpected_errors(), as_user.errors
    finally:
        as_user.context.close()

    # Disabled in the page: the user's key stops working.
    page.goto("#/users")
    p.locator(f"tr[data-user='{user}']").get_by_role("button", name="Disable").click()
    p.locator(f"tr[data-user='{user}']").get_by_text("disabled").wait_for()
    with pytest.raises(ClientError) as e:
        node.client(access, secret).list_objects_v2(Bucket=mine)
    assert e.value.response["Error"]["Code"] == "InvalidAccessKeyId"
    for b, k in ((mine, "doc.txt"), (other, "secret.txt")):
        s3.delete_object(Bucket=b, Key=k)
        s3.delete_bucket(Bucket=b)


def create_policy(page, name, statements):
    p = page.page
    page.goto("#/policies")
    p.get_by_label("Name").fill(name)
    p.get_by_label("Document (JSON)").fill(json.dumps({"Version": "2012-10-17", "Statement": statements}))
    p.get_by_role("button", name="Create policy").click()
    p.get_by_role("link", name=name).wait_for()


def create_user(page, name):
    p = page.page
    page.goto("#/users")
    p.get_by_label("New user").fill(name)
    p.get_by_role("button", name="Create user").click()
    p.locator(f"tr[data-user='{name}']").wait_for()


def new_key(page):
    """The access key and secret the page shows once after Create key."""
    p = page.page
    access = p.get_by_test_id("new-access-key").inner_text().strip()
    secret = p.get_by_test_id("new-secret-key").inner_text().strip()
    assert access and secret
    return access, secret


def denied(f):
    with pytest.raises(ClientError) as e:
        f()
    return e.value.response["Error"]["Code"]


def test_a_group_made_in_the_page_gives_its_members_its_policy(page, node, s3, bucket):
    s3.put_object(Bucket=bucket, Key="shared.txt", Body=b"for the group")
    suffix = uuid.uuid4().hex[:6]
    user, group, policy = f"gu{suffix}", f"g{suffix}", f"gp{suffix}"
    page.sign_in()
    p = page.page
    create_policy(page, policy, [{"Effect": "Allow", "Action": "s3:GetObject",
                                  "Resource": f"arn:aws:s3:::{bucket}/*"}])
    create_user(page, user)
    page.goto(f"#/users/{user}")
    p.get_by_role("button", name="Create key").click()
    member = node.client(*new_key(page))
    get = lambda: member.get_object(Bucket=bucket, Key="shared.txt")["Body"].read()
    assert denied(get) == "AccessDenied"

    page.goto("#/groups")
    p.get_by_label("New group").fill(group)
    p.get_by_label("New group").press("Enter")
    p.get_by_role("link", name=group).click()
    p.get_by_role("heading", name=f"Group {group}").wait_for()
    p.get_by_label("User", exact=True).fill(user)
    p.get_by_role("button", name="Add member").click()
    p.get_by_role("listitem").get_by_role("link", name=user).wait_for()
    assert denied(get) == "AccessDenied", "a member of a group without policies"
    p.locator("select[name=attach]").select_option(policy)
    p.get_by_role("button", name="Attach").click()
    p.get_by_role("button", name="Detach").wait_for()
    assert get() == b"for the group"
    page.screenshot("group")

    page.goto("#/groups")
    row = p.locator(f"tr[data-group='{group}']")
    row.filter(has_text=user).filter(has_text=policy).wait_for()
    # Out of the group, the member loses what only the group gave.
    page.goto(f"#/groups/{group}")
    p.get_by_role("listitem").filter(has_text=user).get_by_role("button", name="Remove").click()
    p.get_by_role("listitem").filter(has_text="none").first.wait_for()
    assert denied(get) == "AccessDenied"


def test_an_access_key_made_on_the_keys_page_is_disabled_enabled_and_deleted(page, node, s3, bucket):
    s3.put_object(Bucket=bucket, Key="k.txt", Body=b"key")
    suffix = uuid.uuid4().hex[:6]
    user, policy = f"ku{suffix}", f"kp{suffix}"
    page.sign_in()
    p = page.page
    create_policy(page, policy, [{"Effect": "Allow", "Action": "s3:GetObject",
                                  "Resource": f"arn:aws:s3:::{bucket}/*"}])
    page.goto("#/users")
    p.get_by_label("New user").fill(user)
    p.get_by_label("Policies (comma-separated)").fill(policy)
    p.get_by_role("button", name="Create user").click()
    p.locator(f"tr[data-user='{user}']").wait_for()

    page.goto("#/keys")
    p.get_by_label("User", exact=True).fill(user)
    p.get_by_label("Description").fill("made on the keys page")
    p.get_by_role("button", name="Create key").click()
    access, secret = new_key(page)
    row = p.locator(f"tr[data-key='{access}']")
    row.filter(has_text="made on the keys page").filter(has_text="Active").wait_for()
    c = node.client(access, secret)
    get = lambda: c.get_object(Bucket=bucket, Key="k.txt")["Body"].read()
    assert get() == b"key"
    page.screenshot("keys")

    row.get_by_role("button", name="Deactivate").click()
    row.filter(has_text="Inactive").wait_for()
    assert denied(get) == "InvalidAccessKeyId"
    row.get_by_role("button", name="Activate").click()
    row.filter(has_text="Active").get_by_role("button", name="Deactivate").wait_for()
    assert get() == b"key"
    row.get_by_role("button", name="Delete", exact=True).click()
    row.get_by_role("button", name=f"Delete {access}").click()
    row.wait_for(state="detached")
    assert denied(get) == "InvalidAccessKeyId"


def test_object_details_tags_share_link_and_restoring_a_version(page, s3, bucket):
    page.sign_in()
    p = page.page
    page.goto("#/buckets")
    row = p.locator(f"tr[data-bucket='{bucket}']")
    row.get_by_role("button", name="Enable").click()
    row.get_by_role("button", name="Suspend").wait_for()
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    s3.put_object(Bucket=bucket, Key="dir/note.txt", Body=b"first", Metadata={"origin": "test"})
    s3.put_object(Bucket=bucket, Key="dir/note.txt", Body=b"second")
    page.goto(f"#/b/{bucket}/object?key=dir%2Fnote.txt")
    p.get_by_role("heading", name="note.txt").wait_for()
    p.get_by_text("content-length").wait_for()
    p.get_by_label("One tag a line, key=value").fill("team=storage\nstage=test")
    p.get_by_role("button", name="Save tags").click()
    p.get_by_role("status").filter(has_text="Tags saved").wait_for()
    tags = s3.get_object_tagging(Bucket=bucket, Key="dir/note.txt")["TagSet"]
    assert sorted((t["Key"], t["Value"]) for t in tags) == [("stage", "test"), ("team", "storage")]
    p.get_by_label("Valid for").select_option("900")
    p.get_by_role("button", name="Make link").click()
    url = p.locator("input[name=shareUrl]").input_value()
    assert "X-Amz-Expires=900" in url and "X-Amz-Security-Token=" in url
    assert urllib.request.urlopen(url, timeout=10).read() == b"second"
    page.screenshot("object")
    p.locator("tr[data-version]").nth(1).get_by_role("button", name="Restore").click()
    p.locator("tr[data-version]").nth(2).wait_for()
    assert s3.get_object(Bucket=bucket, Key="dir/note.txt")["Body"].read() == b"first"


def test_quota_set_in_the_page_refuses_a_write_past_it(page, s3, bucket):
    page.sign_in()
    p = page.page
    row = p.locator(f"tr[data-bucket='{bucket}']")
    row.get_by_role("button", name="Set quota").click()
    row.get_by_label("Quota (empty: none)").fill("1KiB")
    row.get_by_label("Quota (empty: none)").press("Enter")
    p.locator(f"tr[data-bucket='{bucket}']", has_text="1.00 KiB").wait_for()
    s3.put_object(Bucket=bucket, Key="small", Body=b"x" * 600)
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="big", Body=b"x" * 600)
    assert e.value.response["Error"]["Code"] == "XMinioAdminBucketQuotaExceeded"
    page.screenshot("buckets")


PAGES = ["buckets", "users", "groups", "keys", "policies", "drives", "usage", "metrics"]

# Every table on the page fits its box (no scrolling inside it), and no
# button, link or field in a table, or button anywhere, reaches past the
# table's box or the viewport.
OVERFLOWS = """() => {
  const out = [];
  const text = (e) => (e.textContent || e.getAttribute("name") || "").trim().slice(0, 40);
  document.querySelectorAll(".table-wrap").forEach((w, i) => {
    const box = w.getBoundingClientRect();
    if (w.scrollWidth > w.clientWidth + 1)
      out.push(`table ${i} is ${w.scrollWidth - w.clientWidth}px wider than its box`);
    w.querySelectorAll("button, a, input, select, meter").forEach((e) => {
      const r = e.getBoundingClientRect();
      if (r.width && (r.left < box.left - 1 || r.right > box.right + 1))
        out.push(`${e.tagName} "${text(e)}" in table ${i} spans ${Math.round(r.left)}-${Math.round(r.right)}px, its box ${Math.round(box.left)}-${Math.round(box.right)}px`);
    });
  });
  document.querySelectorAll("button").forEach((e) => {
    const r = e.getBoundingClientRect();
    if (r.width && (r.left < -1 || r.right > window.innerWidth + 1))
      out.push(`button "${text(e)}" spans ${Math.round(r.left)}-${Math.round(r.right)}px of ${window.innerWidth}px`);
  });
  return { tables: document.querySelectorAll(".table-wrap").length, out };
}"""


@pytest.fixture(scope="module")
def furnished(s3, node, browser):
    """A bucket with a versioned object, a policy, a user with a key in a
    group: a row in every table of every page."""
    suffix = uuid.uuid4().hex[:6]
    b, user, group = f"con-view-{suffix}", f"view-user-{suffix}", f"view-group-{suffix}"
    s3.create_bucket(Bucket=b)
    s3.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Enabled"})
    for body in (b"one", b"two"):
        s3.put_object(Bucket=b, Key="folder/a-rather-long-object-name-for-a-narrow-screen.txt", Body=body)
    s3.put_object(Bucket=b, Key="top.txt", Body=b"top")
    p = Page(browser, node, viewport={"width": 1280, "height": 800})
    try:
        p.sign_in()
        create_policy(p, f"view-policy-{suffix}", [{"Effect": "Allow", "Action": "s3:GetObject",
                                                    "Resource": f"arn:aws:s3:::{b}/*"}])
        create_user(p, user)
        p.goto(f"#/users/{user}")
        p.page.get_by_role("button", name="Create key").click()
        p.page.get_by_test_id("new-access-key").wait_for()
        p.goto("#/groups")
        p.page.get_by_label("New group").fill(group)
        p.page.get_by_label("Members (comma-separated)").fill(user)
        p.page.get_by_role("button", name="Create group").click()
        p.page.locator(f"tr[data-group='{group}']").wait_for()
    finally:
        p.context.close()
    yield {"bucket": b, "user": user, "group": group}
    empty_and_delete(s3, b)


@pytest.mark.parametrize("width", [1280, 375])
def test_every_page_renders_without_errors_and_its_tables_fit_the_width(browser, node, furnished, width):
    b, user, group = furnished["bucket"], furnished["user"], furnished["group"]
    obj = f"b/{b}/object?key=folder%2Fa-rather-long-object-name-for-a-narrow-screen.txt"
    routes = [*PAGES, f"b/{b}", f"b/{b}?prefix=folder%2F", obj, f"users/{user}", f"groups/{group}"]
    # Pages with a table (with a row in it, from `furnished`).
    tabled = {"buckets", "users", "groups", "keys", "policies", "drives", "usage", f"b/{b}",
              f"b/{b}?prefix=folder%2F", obj, f"users/{user}"}
    p = Page(browser, node, viewport={"width": width, "height": 800})
    try:
        p.sign_in()
        for route in routes:
            p.goto(f"#/{route}")
            p.page.get_by_role("heading", level=1).wait_for()
            # The page's CSP forbids eval, so no wait_for_function: wait here.
            p.page.get_by_text("Loading").first.wait_for(state="detached", timeout=15_000)
            if route in tabled:
                p.page.locator("table tbody tr").first.wait_for()
            overflow = p.page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 1, f"{route} is {overflow}px wider than a {width}px viewport"
            found = p.page.evaluate(OVERFLOWS)
            assert found["out"] == [], f"{route} at {width}px: {found['out']}"
            assert route not in tabled or found["tables"] >= 1, f"{route}: no table"
            assert not p.page.get_by_role("alert").count(), f"{route}: {p.page.get_by_role('alert').all_inner_texts()}"
            if width == 1280 and route in PAGES and route != "metrics":
                p.screenshot(route)
            if width == 375 and route in ("buckets", "keys", f"b/{b}"):
                p.screenshot({"buckets": "narrow-buckets", "keys": "narrow-keys"}.get(route, "narrow-objects"))
        assert not p.errors, p.errors
    finally:
        p.context.close()


def test_live_charts_show_the_request_rate_and_the_latency_of_each_interval(page, s3, bucket):
    page.sign_in()
    page.goto("#/metrics")
    p = page.page
    p99 = p.get_by_test_id("chart-Latency p99")
    # The page's own polls of /metrics are not S3 requests: an interval
    # without S3 traffic has no latency to show.
    p99.filter(has_text="no requests").wait_for(timeout=15_000)
    for i in range(40):
        s3.put_object(Bucket=bucket, Key=f"m{i}", Body=b"m")
    rate = p.get_by_test_id("chart-Requests")
    deadline = time.time() + 15
    while float(rate.inner_text().split("/")[0]) == 0:
        assert time.time() < deadline, "the request rate stayed 0"
        p.wait_for_timeout(500)
    latency = p99.inner_text()
    assert re.fullmatch(r"\d+\.\d+ ms", latency), latency
    assert re.fullmatch(r"\d+\.\d+ ms", p.get_by_test_id("chart-Latency p50").inner_text())
    page.screenshot("metrics")
    # Once the traffic stops, the next intervals have no latency again: the
    # figure is of each interval, not of everything since the node started.
    p99.filter(has_text="no requests").wait_for(timeout=15_000)


def test_the_console_is_served_with_a_strict_content_security_policy(node):
    r = urllib.request.urlopen(f"{node.endpoint}/_cairn/console/", timeout=10)
    csp = r.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert r.headers["Cache-Control"] == "no-cache"
    html = r.read().decode()
    script = re.search(r'src="(/_cairn/console/assets/[^"]+\.js)"', html).group(1)
    a = urllib.request.urlopen(node.endpoint + script, timeout=10)
    assert "immutable" in a.headers["Cache-Control"]
    assert a.headers["Content-Type"].startswith("text/javascript")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(f"{node.endpoint}/_cairn/console/nope.js", timeout=10)
    assert e.value.code == 404


def test_a_drive_is_held_offline_from_the_page_with_a_reason_and_brought_back(browser, tmp_path):
    n = Node(tmp_path)
    for d in n.drives:
        d.mkdir()
    n.start()
    p = Page(browser, n, viewport={"width": 1400, "height": 800})
    try:
        p.sign_in()
        p.goto("#/drives")
        p.page.get_by_text("4 of 4 drives online").wait_for()
        assert p.page.locator("[data-health]").inner_text() == "ok"
        # The drive holding the index has no button; the last one does.
        row = p.page.locator("tr[data-drive='3']")
        row.get_by_role("button", name="Take offline").click()
        row.get_by_label("Why drive 3 goes offline").fill("swap the cable")
        row.get_by_role("button", name="Take drive 3 offline").click()
        p.page.get_by_text("3 of 4 drives online").wait_for(timeout=30_000)
        assert row.locator(".badge").inner_text() == "held"
        assert p.page.locator("[data-health]").inner_text() == "degraded: 1 drive"
        assert "swap the cable" in row.inner_text()
        p.screenshot("drives-held")
        # The node says so too, and keeps taking writes at quorum.
        body = urllib.request.urlopen(f"{n.endpoint}/health/ready", timeout=10).read().decode()
        assert body.startswith("ready: degraded: 1 drive\n"), body
        assert "drive 3: held" in body
        c = n.client()
        c.create_bucket(Bucket="held")
        c.put_object(Bucket="held", Key="k", Body=b"y" * 100_000)
        row.get_by_role("button", name="Bring online").click()
        p.page.get_by_text("4 of 4 drives online").wait_for(timeout=30_000)
        assert row.locator(".badge").inner_text() == "ok"
        assert c.get_object(Bucket="held", Key="k")["Body"].read() == b"y" * 100_000
        assert not p.errors, p.errors
    finally:
        p.context.close()
        n.stop()


def test_a_drive_being_healed_shows_its_percentage_per_drive_and_overall(browser, tmp_path):
    # A slow heal, paused part-way through `cairn admin heal pause` (the real
    # CLI), so the page is read at a still point.
    n = Node(tmp_path, extra=["--heal-rate", "1MiB", "--heal-idle-rate", "1MiB"])
    for d in n.drives:
        d.mkdir()
    n.start()
    home = tmp_path / "home"
    home.mkdir()

    def cli(*args):
        out = subprocess.run([n.binary, "admin", *args, "--json"], env=dict(os.environ, HOME=str(home)),
                             stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)

    def healing():
        return cli("heal", "status", "local")["drives"]

    cli("alias", "set", "local", n.endpoint, ROOT_KEY, ROOT_SECRET)
    c = n.client()
    c.create_bucket(Bucket="heal")
    for i in range(24):
        c.put_object(Bucket="heal", Key=f"k{i}", Body=bytes([i]) * 400_000)
    p = Page(browser, n, viewport={"width": 1400, "height": 800})
    try:
        p.sign_in()
        p.goto("#/drives")
        p.page.get_by_text("4 of 4 drives online").wait_for()
        assert p.page.locator("tr[data-drive='3'] [data-healing]").count() == 0
        shutil.rmtree(n.drives[3])
        n.drives[3].mkdir()
        deadline = time.time() + 120
        while not healing() or healing()[0]["progress"] == 0:
            assert time.time() < deadline, "no heal under way"
            time.sleep(0.2)
        cli("heal", "pause", "local")
        # The batch in flight when paused ends; then progress stands still.
        last = None
        while (now := healing()[0]["progress"]) != last:
            assert time.time() < deadline, "the paused heal kept moving"
            last = now
            time.sleep(1.5)
        pct = healing()[0]["percent"]
        assert 0 < pct < 100
        row = p.page.locator("tr[data-drive='3'] [data-healing]")
        row.wait_for(timeout=30_000)
        # The console's CSP forbids evaluated strings: Playwright's own waits.
        expect(row).to_have_attribute("data-healing", str(pct), timeout=30_000)
        assert f"healing {pct}%" in row.inner_text()
        assert p.page.locator("[data-health]").inner_text() == f"ok, healing {pct}%"
        assert p.page.locator("[data-healing]").count() == 1, "only the wiped drive heals"
        p.screenshot("drives-healing")
        cli("heal", "resume", "local")
        expect(p.page.locator("[data-health]")).to_have_text("ok", timeout=120_000)
        assert p.page.locator("[data-healing]").count() == 0
        assert not p.errors, p.errors
    finally:
        p.context.close()
        n.stop()


def test_a_drive_made_unreadable_is_shown_offline(browser):
    # chmod 000 stops only an unprivileged process: as root the node runs
    # as nobody, over drives it owns (outside pytest's private tmp).
    user = 65534 if os.geteuid() == 0 else None
    work = pathlib.Path(tempfile.mkdtemp(prefix="cairn-console-", dir="/var/tmp"))
    work.chmod(0o755)
    n = Node(work, user=user)
    for d in n.drives:
        d.mkdir()
        if user:
            os.chown(d, 65534, 65534)
    n.start()
    p = Page(browser, n, viewport={"width": 1280, "height": 800})
    try:
        p.sign_in()
        p.goto("#/drives")
        p.page.get_by_text("4 of 4 drives online").wait_for()
        n.drives[3].chmod(0)
        # The node's probe sees it within seconds, and the page's next poll
        # shows it: no restart.
        p.page.get_by_text("3 of 4 drives online").wait_for(timeout=30_000)
        assert p.page.locator("tr[data-drive='3'] .badge").inner_text() == "offline"
        p.screenshot("drives-offline")
        # Writes go on at quorum without it.
        c = n.client()
        c.create_bucket(Bucket="touch")
        c.put_object(Bucket="touch", Key="k", Body=b"x" * 100_000)
        assert c.get_object(Bucket="touch", Key="k")["Body"].read() == b"x" * 100_000
        n.drives[3].chmod(0o755)
        p.page.get_by_text("4 of 4 drives online").wait_for(timeout=30_000)
        assert not p.errors, p.errors
    finally:
        p.context.close()
        n.stop()
        n.drives[3].chmod(0o755)
        shutil.rmtree(work, ignore_errors=True)
