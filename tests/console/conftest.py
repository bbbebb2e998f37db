"""Fixtures for the web console's browser tests.

Each node is the real cairn binary (CAIRN_BIN) on a free loopback port with
temporary drives; Chromium is Debian's, driven by Playwright. Every page
collects its console messages and uncaught errors, and a test fails on
any error it did not expect.
"""

import os
import shutil
import socket
import subprocess
import time
import urllib.request
import uuid

import boto3
import pytest
from botocore.config import Config

ROOT_KEY = "consoleadmin"
ROOT_SECRET = "console-secret-" + uuid.uuid4().hex[:12]
CHROMIUM = "/usr/bin/chromium"
REGION = "us-east-1"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """In CI (CI=true) a skipped test is a failure, as in tests/compat."""
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CI") == "true" and report.skipped:
        report.outcome = "failed"
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.longrepr = f"skipped in CI (CI=true), which must run every test: {reason}"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Node:
    """One cairn process over `drives`; stop() and start() keep the drives."""

    def __init__(self, work, drives=4, user=None, extra=()):
        self.binary = os.environ.get("CAIRN_BIN")
        if not self.binary:
            pytest.skip("CAIRN_BIN is not set: run through tests/console/run.sh")
        self.work = work
        self.drives = [work / f"d{i}" for i in range(drives)]
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.user = user
        self.extra = list(extra)
        self.proc = None

    def start(self):
        env = dict(os.environ, CAIRN_ROOT_USER=ROOT_KEY, CAIRN_ROOT_PASSWORD=ROOT_SECRET, CAIRN_LOG="info")
        cmd = [self.binary, "serve", *map(str, self.drives), "--listen", f"127.0.0.1:{self.port}",
               "--cores", "2", "--no-pin", "--partitions", "8", "--segment-size", str(64 << 20), *self.extra]
        if self.user:
            cmd = ["setpriv", f"--reuid={self.user}", f"--regid={self.user}", "--clear-groups", *cmd]
        self.log = open(self.work / "server.log", "a")
        self.proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=self.log)
        deadline = time.time() + 60
        while True:
            assert self.proc.poll() is None, (self.work / "server.log").read_text()[-4000:]
            try:
                urllib.request.urlopen(f"{self.endpoint}/health/ready", timeout=1)
                return
            except OSError:
                assert time.time() < deadline, "cairn did not become ready"
                time.sleep(0.1)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def client(self, access=ROOT_KEY, secret=ROOT_SECRET, token=None, unsigned=False):
        cfg = Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1},
                     max_pool_connections=32)
        if unsigned:
            from botocore import UNSIGNED
            cfg = cfg.merge(Config(signature_version=UNSIGNED))
        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id=access,
                            aws_secret_access_key=secret, aws_session_token=token,
                            region_name=REGION, config=cfg)


@pytest.fixture(scope="session")
def node(tmp_path_factory):
    n = Node(tmp_path_factory.mktemp("node"))
    n.start()
    yield n
    n.stop()


@pytest.fixture(scope="session")
def s3(node):
    return node.client()


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed (pip install -r tests/console/requirements.txt)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


class Page:
    """A browser page that records console errors and uncaught exceptions."""

    def __init__(self, browser, node, **context):
        self.context = browser.new_context(**context)
        self.context.set_default_timeout(30_000)
        self.page = self.context.new_page()
        self.node = node
        self.errors = []
        self.allowed = []
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))

    def goto(self, route=""):
        self.page.goto(f"{self.node.endpoint}/_cairn/console/{route}")

    def sign_in(self, access=ROOT_KEY, secret=ROOT_SECRET):
        p = self.page
        self.goto()
        p.get_by_label("Access key").fill(access)
        p.get_by_label("Secret key").fill(secret)
        # Forms submit on Enter.
        p.get_by_label("Secret key").press("Enter")
        p.get_by_role("button", name="Sign out").wait_for()

    def allow(self, pattern):
        """An expected console error: a refusal the page shows to the user."""
        self.allowed.append(pattern)

    def unexpected_errors(self):
        return [e for e in self.errors if not any(a in e for a in self.allowed)]

    def screenshot(self, name):
        out = os.environ.get("CAIRN_CONSOLE_SCREENSHOTS")
        if out:
            os.makedirs(out, exist_ok=True)
            self.page.screenshot(path=os.path.join(out, f"{name}.png"), full_page=True)


@pytest.fixture
def page(browser, node):
    p = Page(browser, node, viewport={"width": 1280, "height": 800})
    yield p
    errors = p.unexpected_errors()
    p.context.close()
    assert not errors, f"console errors: {errors}"


@pytest.fixture
def bucket(s3):
    name = f"con-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    yield name
    empty_and_delete(s3, name)


def empty_and_delete(s3, name):
    try:
        for pg in s3.get_paginator("list_object_versions").paginate(Bucket=name):
            objs = [{"Key": o["Key"], "VersionId": o["VersionId"]}
                    for o in pg.get("Versions", []) + pg.get("DeleteMarkers", [])]
            for i in range(0, len(objs), 1000):
                s3.delete_objects(Bucket=name, Delete={"Objects": objs[i:i + 1000], "Quiet": True})
        s3.delete_bucket(Bucket=name)
    except s3.exceptions.NoSuchBucket:
        pass
