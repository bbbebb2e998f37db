#!/usr/bin/env python3
"""Power-loss campaign: cairn on the cairn-powerloss FUSE simulator.

Each round mounts the simulator over one backing directory holding six
drive directories, gives cairn a new boot id (CAIRN_BOOT_ID_FILE: after a
power cut the machine "rebooted"), starts the real binary with a 4+2 layout,
checks everything acknowledged so far, runs a mixed workload (PUT inline and
erasure-coded objects, overwrites, multipart uploads, DELETE, a versioned
bucket with delete markers and deletes by version id, IAM users and inline
policies) and cuts the power at a random moment: freeze, kill -9, drop, tear
or keep every write not yet made durable, unmount. After the last cut a
final round only checks.

The check, per key (each key has at most one operation in flight, so "the
last acknowledged operation" is well defined): the state read back is the
state after the last acknowledged operation, or after an operation that was
in flight when the power went (or failed without an answer); GET agrees
with the listings; a body whose hash is no PUT of the key is torn; an older
acknowledged state, or an acknowledged delete undone, is lost.

    campaign.py --cuts 100 --seed 1

needs root and /dev/fuse, boto3 (tests/compat's venv), and the binaries
(CAIRN_BIN, POWERLOSS_BIN, default $CARGO_TARGET_DIR/debug/...). Exit status
1 if anything was lost or torn, 2 if the harness itself failed.
"""

import argparse
import hashlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.parse
import urllib.request

import boto3
import botocore
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

USER = "plroot"
SECRET = "powerloss-campaign-secret"
PLAIN = "plain"
VERSIONED = "versioned"
DRIVES = 6
MARKER = "<delete marker>"
ABSENT = None
UNREADABLE = "<unreadable>"
SMALL = (1, 60 << 10)  # inline (< 64 KiB)
LARGE = (1 << 20, 5 << 19)  # erasure-coded stripes
PART = 5 << 20  # the smallest part but the last


def md5(b):
    return hashlib.md5(b).hexdigest()


class Failure(Exception):
    """The harness could not run (not a finding about cairn)."""


# ---------------------------------------------------------------------------
# Processes
# ---------------------------------------------------------------------------


def control(sock, command, timeout=60):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(timeout)
    s.connect(sock)
    s.sendall((command + "\n").encode())
    out = b""
    while not out.endswith(b"\n"):
        chunk = s.recv(4096)
        if not chunk:
            break
        out += chunk
    s.close()
    return out.decode().strip()


class Mount:
    def __init__(self, args, work):
        self.backing = os.path.join(work, "backing")
        self.mnt = os.path.join(work, "mnt")
        self.ctl = os.path.join(work, "ctl")
        os.makedirs(self.backing, exist_ok=True)
        os.makedirs(self.mnt, exist_ok=True)
        self.log = open(os.path.join(work, "powerloss.log"), "ab")
        self.proc = subprocess.Popen(
            [args.powerloss_bin, "mount", "--backing", self.backing, "--mountpoint",
             self.mnt, "--control", self.ctl, "--metadata", args.metadata],
            stdout=self.log, stderr=self.log)
        deadline = time.time() + 20
        while not os.path.exists(self.ctl):
            if self.proc.poll() is not None or time.time() > deadline:
                raise Failure("cairn-powerloss did not mount (see powerloss.log)")
            time.sleep(0.02)

    def cut(self, seed):
        answer = control(self.ctl, "cut %d" % seed)
        if not answer.startswith("ok "):
            raise Failure("cut: " + answer)
        return json.loads(answer[3:])

    def unmount(self):
        if self.proc.poll() is None and os.path.exists(self.ctl):
            control(self.ctl, "unmount")

    def wait(self):
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            subprocess.run(["umount", "-l", self.mnt], check=False)
            self.proc.kill()
            self.proc.wait()
            raise Failure("cairn-powerloss did not end after the unmount")
        if self.proc.returncode != 0:
            raise Failure("cairn-powerloss exited %d (see powerloss.log)" % self.proc.returncode)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Cairn:
    def __init__(self, args, work, mnt, round_no, wait=True):
        self.mnt = mnt
        self.wiped = None
        self.port = free_port()
        self.endpoint = "http://127.0.0.1:%d" % self.port
        boot = os.path.join(work, "boot_id")
        with open(boot, "w") as f:
            f.write("powerloss-%d-%d\n" % (args.seed, round_no))
        self.log_path = os.path.join(work, "cairn.log")
        log = open(self.log_path, "ab")
        log.write(("\n===== round %d =====\n" % round_no).encode())
        log.flush()
        env = dict(os.environ, CAIRN_BOOT_ID_FILE=boot, CAIRN_ROOT_USER=USER,
                   CAIRN_ROOT_PASSWORD=SECRET, CAIRN_LOG=os.environ.get("CAIRN_LOG", "info"))
        drives = [os.path.join(mnt, "d%d" % i) for i in range(DRIVES)]
        cmd = [args.cairn_bin, "serve", *drives, "--layout", "4+2", "--listen",
               "127.0.0.1:%d" % self.port, "--cores", "2", "--no-pin", "--partitions", "16",
               "--segment-size", str(16 << 20), "--heal-rate", args.heal_rate,
               "--heal-idle-rate", args.heal_rate]
        self.retries = 0
        start = log.tell()
        self.proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=log)
        deadline = time.time() + args.start_timeout
        while wait:
            if self.proc.poll() is not None:
                # io_uring_setup's ENOMEM (no contiguous memory for a ring
                # with the page cache full) is the machine's, not a finding:
                # start again, a few times.
                with open(self.log_path, "rb") as f:
                    f.seek(start)
                    said = f.read().decode(errors="replace")
                if "io_uring runtime failed to start" in said and self.retries < 5:
                    self.retries += 1
                    print("note: cairn's io_uring could not start (%s); starting it again" % self.proc.returncode,
                          flush=True)
                    time.sleep(2)
                    start = log.tell()
                    self.proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=log)
                    continue
                raise Failure("cairn exited during start-up (%s; see cairn.log)" % self.proc.returncode)
            try:
                with urllib.request.urlopen(self.endpoint + "/health/ready", timeout=1) as r:
                    if r.status == 200:
                        break
            except Exception:
                pass
            if time.time() > deadline:
                self.kill9()
                raise Failure("cairn did not become ready (see cairn.log)")
            time.sleep(0.1)

    def kill9(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill9()

    def s3(self):
        return boto3.client(
            "s3", endpoint_url=self.endpoint, aws_access_key_id=USER,
            aws_secret_access_key=SECRET, region_name="us-east-1",
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1},
                          connect_timeout=5, read_timeout=60))

    def iam(self):
        return boto3.client(
            "iam", endpoint_url=self.endpoint, aws_access_key_id=USER,
            aws_secret_access_key=SECRET, region_name="us-east-1",
            config=Config(retries={"max_attempts": 1}, connect_timeout=5, read_timeout=60))

    def admin_get(self, path):
        """A signed GET of the admin API, its JSON answer."""
        url = self.endpoint + "/_cairn/admin/v1/" + path
        req = AWSRequest(method="GET", url=url,
                         headers={"x-amz-content-sha256": hashlib.sha256(b"").hexdigest()})
        SigV4Auth(Credentials(USER, SECRET), "s3", "us-east-1").add_auth(req)
        r = urllib.request.Request(url, method="GET", headers=dict(req.headers))
        with urllib.request.urlopen(r, timeout=30) as resp:
            return json.loads(resp.read())

    def healing(self):
        """The drives being healed (GET background/heal), with their progress."""
        return self.admin_get("background/heal")["drives"]

    def admin_post(self, path):
        """A signed POST to the admin API (for phase hooks)."""
        url = self.endpoint + "/_cairn/admin/v1/" + path
        req = AWSRequest(method="POST", url=url, data=b"",
                         headers={"x-amz-content-sha256": hashlib.sha256(b"").hexdigest()})
        SigV4Auth(Credentials(USER, SECRET), "s3", "us-east-1").add_auth(req)
        r = urllib.request.Request(url, data=b"", method="POST", headers=dict(req.headers))
        with urllib.request.urlopen(r, timeout=30) as resp:
            return resp.status


# ---------------------------------------------------------------------------
# What was acknowledged
# ---------------------------------------------------------------------------


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.c = {k: 0 for k in (
            "cuts", "acknowledged", "in_flight", "errors_before_cut", "resolved_applied",
            "resolved_not_applied", "lost", "torn", "resurrected", "unreadable", "listing_mismatches",
            "order_mismatches", "checked_keys", "checked_versions", "checked_users",
            "cut_data_applied", "cut_data_dropped", "cut_data_torn", "cut_meta_applied",
            "cut_meta_dropped", "heal_at_run_time", "heal_at_start", "heal_running_at_cut",
            "heals_finished_after_cut", "heal_checks_exact", "heal_checks_without_m")}
        self.c.update({"phase_" + p: 0 for p in PHASES})
        self.by_op = {}
        self.findings = []

    def add(self, k, n=1):
        with self.lock:
            self.c[k] += n

    def acked(self, op):
        with self.lock:
            self.c["acknowledged"] += 1
            self.by_op[op] = self.by_op.get(op, 0) + 1

    def finding(self, kind, text):
        with self.lock:
            self.c[kind] += 1
            self.findings.append("%s: %s" % (kind, text))
        print("FINDING %s: %s" % (kind, text), flush=True)


class PlainKey:
    """A key of the unversioned bucket: its content hash or ABSENT."""

    def __init__(self, name):
        self.name, self.acked, self.ghosts, self.history = name, ABSENT, set(), set()
        # Outcomes of earlier in-flight operations, already counted as
        # resolved: still allowed until the next acknowledgement.
        self.old_ghosts = set()


class VersionedKey:
    """A key of the versioned bucket: versions newest first, (id, hash or MARKER)."""

    def __init__(self, name):
        self.name, self.versions, self.history = name, [], set()
        self.ghosts = []  # ("put", hash) or ("marker",): may have happened
        self.maybe_deleted = set()  # version ids whose delete by id was in flight


class IamUser:
    def __init__(self, name):
        self.name, self.acked, self.ghosts, self.old_ghosts = name, (False, None), set(), set()


class Workload:
    def __init__(self, args, rng, stats):
        self.args, self.rng, self.stats = args, rng, stats
        self.plain = [[PlainKey("w%d/p%d" % (w, k)) for k in range(args.keys)]
                      for w in range(args.workers)]
        self.versioned = [[VersionedKey("w%d/v%d" % (w, k)) for k in range(args.keys // 2 + 1)]
                          for w in range(args.workers)]
        self.users = [IamUser("pl-user-%d" % i) for i in range(args.users)]
        self.cut_at = None

    def failed(self, what, e):
        """An operation without a success answer: its outcome is unknown
        (its ghost stays). Before a cut that is worth reporting."""
        if self.cut_at is None:
            self.stats.finding("errors_before_cut", "%s: %s" % (what, e))
        else:
            self.stats.add("in_flight")
            time.sleep(0.05)

    # One S3 worker: its own keys, one operation at a time.
    def s3_worker(self, w, client, stop, seed):
        rng = random.Random(seed)
        while not stop.is_set():
            if rng.random() < 0.6:
                self.plain_op(client, rng.choice(self.plain[w]), rng, stop)
            else:
                self.versioned_op(client, rng.choice(self.versioned[w]), rng, stop)

    def body(self, rng, key_history):
        lo, hi = LARGE if rng.random() < 0.25 else SMALL
        b = rng.randbytes(rng.randint(lo, hi))
        key_history.add(md5(b))
        return b

    def plain_op(self, c, k, rng, stop):
        r = rng.random()
        try:
            if r < 0.7:
                b = self.body(rng, k.history)
                k.ghosts.add(md5(b))
                c.put_object(Bucket=PLAIN, Key=k.name, Body=b)
                op, state = "put", md5(b)
            elif r < 0.75 and not self.args.no_multipart:
                b1 = rng.randbytes(PART)
                b2 = rng.randbytes(rng.randint(1, 300 << 10))
                whole = md5(b1 + b2)
                k.history.add(whole)
                u = c.create_multipart_upload(Bucket=PLAIN, Key=k.name)["UploadId"]
                e1 = c.upload_part(Bucket=PLAIN, Key=k.name, UploadId=u, PartNumber=1, Body=b1)["ETag"]
                e2 = c.upload_part(Bucket=PLAIN, Key=k.name, UploadId=u, PartNumber=2, Body=b2)["ETag"]
                k.ghosts.add(whole)
                c.complete_multipart_upload(
                    Bucket=PLAIN, Key=k.name, UploadId=u,
                    MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1},
                                               {"PartNumber": 2, "ETag": e2}]})
                op, state = "multipart", whole
            else:
                k.ghosts.add(ABSENT)
                c.delete_object(Bucket=PLAIN, Key=k.name)
                op, state = "delete", ABSENT
        except Exception as e:
            self.failed("%s %s" % (PLAIN, k.name), e)
            return
        k.acked, k.ghosts, k.old_ghosts = state, set(), set()
        self.stats.acked(op)

    def versioned_op(self, c, k, rng, stop):
        r = rng.random()
        live = [v for v in k.versions if v[1] != MARKER]
        try:
            if r < 0.6:
                b = self.body(rng, k.history)
                k.ghosts.append(("put", md5(b)))
                vid = c.put_object(Bucket=VERSIONED, Key=k.name, Body=b)["VersionId"]
                op, apply = "versioned put", lambda: k.versions.insert(0, (vid, md5(b)))
            elif r < 0.8 or not live:
                k.ghosts.append(("marker",))
                vid = c.delete_object(Bucket=VERSIONED, Key=k.name)["VersionId"]
                op, apply = "delete marker", lambda: k.versions.insert(0, (vid, MARKER))
            else:
                vid = rng.choice(live)[0]
                k.maybe_deleted.add(vid)
                c.delete_object(Bucket=VERSIONED, Key=k.name, VersionId=vid)
                op = "delete version"

                def apply():
                    k.versions[:] = [v for v in k.versions if v[0] != vid]
        except Exception as e:
            self.failed("%s %s" % (VERSIONED, k.name), e)
            return
        apply()
        # The acknowledged operation is no ghost; earlier in-flight ones may
        # still surface below it.
        g = ("put", md5(b)) if op == "versioned put" else ("marker",) if op == "delete marker" else None
        if g in k.ghosts:
            k.ghosts.remove(g)
        self.stats.acked(op)

    def iam_worker(self, iam, stop, seed):
        rng = random.Random(seed)
        while not stop.is_set():
            u = rng.choice(self.users)
            exists, doc = u.acked
            try:
                if not exists:
                    new = (True, None)
                    u.ghosts.add(new)
                    iam.create_user(UserName=u.name)
                    op = "iam create user"
                elif doc is None and rng.random() < 0.3:
                    new = (False, None)
                    u.ghosts.add(new)
                    iam.delete_user(UserName=u.name)
                    op = "iam delete user"
                elif doc is not None and rng.random() < 0.3:
                    new = (True, None)
                    u.ghosts.add(new)
                    iam.delete_user_policy(UserName=u.name, PolicyName="p")
                    op = "iam delete policy"
                else:
                    d = json.dumps({"Version": "2012-10-17", "Statement": [{
                        "Effect": "Allow", "Action": "s3:GetObject",
                        "Resource": "arn:aws:s3:::b%d/*" % rng.randint(0, 10 ** 9)}]},
                        sort_keys=True)
                    new = (True, d)
                    u.ghosts.add(new)
                    iam.put_user_policy(UserName=u.name, PolicyName="p", PolicyDocument=d)
                    op = "iam put policy"
            except Exception as e:
                self.failed("iam %s" % u.name, e)
                continue
            u.acked, u.ghosts, u.old_ghosts = new, set(), set()
            self.stats.acked(op)

    # -----------------------------------------------------------------------
    # The check after a restart
    # -----------------------------------------------------------------------

    def verify(self, s3, iam, round_no):
        st = self.stats
        listed = {b: self.listing(s3, b) for b in (PLAIN, VERSIONED)}
        found = set()
        for k in (k for ks in self.plain for k in ks):
            st.add("checked_keys")
            got = self.read(s3, PLAIN, k.name, None, round_no)
            if got is UNREADABLE:
                continue
            if got is not ABSENT:
                found.add(k.name)
            if got == k.acked:
                if k.ghosts - {k.acked}:
                    st.add("resolved_not_applied")
            elif got in k.ghosts or got in k.old_ghosts:
                st.add("resolved_applied")
                k.acked = got
            elif got is ABSENT or got in k.history:
                st.finding("lost", "round %d: %s/%s is %s, acknowledged %s" % (
                    round_no, PLAIN, k.name, got, k.acked))
                k.acked, k.ghosts = got, set()
            else:
                st.finding("torn", "round %d: %s/%s has a body (md5 %s) no PUT sent" % (
                    round_no, PLAIN, k.name, got))
                k.acked, k.ghosts = got, set()
            k.old_ghosts |= k.ghosts
            k.old_ghosts.discard(k.acked)
            k.ghosts = set()
        if listed[PLAIN] != found:
            st.finding("listing_mismatches", "round %d: %s lists %s that GET does not find and not %s that it does" % (
                round_no, PLAIN, sorted(listed[PLAIN] - found), sorted(found - listed[PLAIN])))
        current = set()
        for k in (k for ks in self.versioned for k in ks):
            if self.verify_versions(s3, k, round_no):
                current.add(k.name)
        if listed[VERSIONED] != current:
            st.finding("listing_mismatches", "round %d: %s lists and versions differ on %s" % (
                round_no, VERSIONED, sorted(listed[VERSIONED] ^ current)))
        for u in self.users:
            st.add("checked_users")
            got = self.iam_state(iam, u)
            if got == u.acked:
                if u.ghosts - {u.acked}:
                    st.add("resolved_not_applied")
            elif got in u.ghosts or got in u.old_ghosts:
                st.add("resolved_applied")
                u.acked = got
            else:
                st.finding("lost", "round %d: IAM user %s is %s, acknowledged %s" % (
                    round_no, u.name, got, u.acked))
                u.acked, u.ghosts = got, set()
            u.old_ghosts |= u.ghosts
            u.old_ghosts.discard(u.acked)
            u.ghosts = set()

    def read(self, s3, bucket, key, vid, round_no):
        """The body's md5, ABSENT for NoSuchKey, or UNREADABLE (a finding:
        an acknowledged object that cannot be read is as good as lost)."""
        try:
            if vid is None:
                r = s3.get_object(Bucket=bucket, Key=key)
            else:
                r = s3.get_object(Bucket=bucket, Key=key, VersionId=vid)
            return md5(r["Body"].read())
        except Exception as e:
            if isinstance(e, botocore.exceptions.ClientError) and e.response["Error"]["Code"] == "NoSuchKey":
                return ABSENT
            self.stats.finding("unreadable", "round %d: %s/%s%s: %s" % (
                round_no, bucket, key, "" if vid is None else " version " + vid, e))
            return UNREADABLE

    def listing(self, s3, bucket):
        keys = set()
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            keys.update(o["Key"] for o in page.get("Contents", []))
        return keys

    def verify_versions(self, s3, k, round_no):
        """Checks one versioned key; True if its latest version is an object."""
        st = self.stats
        observed = []
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=VERSIONED, Prefix=k.name):
            for v in page.get("Versions", []):
                if v["Key"] == k.name:
                    observed.append((v["LastModified"], v["VersionId"], v["IsLatest"], False))
            for v in page.get("DeleteMarkers", []):
                if v["Key"] == k.name:
                    observed.append((v["LastModified"], v["VersionId"], v["IsLatest"], True))
        # boto3 parts versions from delete markers: merge them again, newest
        # first (the latest, then by time and version id).
        observed.sort(key=lambda v: (v[2], v[0], v[1]), reverse=True)
        got = []
        for _, vid, _, marker in observed:
            if marker:
                got.append((vid, MARKER))
            else:
                h = self.read(s3, VERSIONED, k.name, vid, round_no)
                if h is UNREADABLE or h is ABSENT:
                    h = "<unreadable>"
                got.append((vid, h))
            st.add("checked_versions")
        got_ids = {vid: h for vid, h in got}
        acked_ids = {vid: h for vid, h in k.versions}
        for vid, h in k.versions:
            if vid not in got_ids:
                if vid in k.maybe_deleted:
                    st.add("resolved_applied")
                else:
                    st.finding("lost", "round %d: %s/%s version %s (%s) is gone" % (
                        round_no, VERSIONED, k.name, vid, h))
            elif got_ids[vid] != h and got_ids[vid] != UNREADABLE:
                kind = "lost" if got_ids[vid] in k.history else "torn"
                st.finding(kind, "round %d: %s/%s version %s reads %s, acknowledged %s" % (
                    round_no, VERSIONED, k.name, vid, got_ids[vid], h))
        ghosts = list(k.ghosts)
        for vid, h in got:
            if vid in acked_ids:
                continue
            want = ("marker",) if h == MARKER else ("put", h)
            if want in ghosts:
                ghosts.remove(want)
                st.add("resolved_applied")
            elif h in k.history or h == MARKER:
                st.finding("resurrected", "round %d: %s/%s has version %s (%s) no acknowledged or in-flight operation made" % (
                    round_no, VERSIONED, k.name, vid, h))
            else:
                st.finding("torn", "round %d: %s/%s version %s has a body (md5 %s) no PUT sent" % (
                    round_no, VERSIONED, k.name, vid, h))
        # The newest acknowledged versions keep their order.
        seq = [vid for vid, _ in got if vid in acked_ids]
        if seq != [vid for vid, _ in k.versions if vid in got_ids]:
            st.finding("order_mismatches", "round %d: %s/%s versions %s, acknowledged %s" % (
                round_no, VERSIONED, k.name, seq, [v for v, _ in k.versions]))
        # GET without a version id agrees with the newest listed version.
        latest = self.read(s3, VERSIONED, k.name, None, round_no)
        latest = MARKER if latest is ABSENT else latest
        newest = [v for v in observed if v[2]]
        want_latest = got_ids[newest[0][1]] if newest else MARKER
        if latest != want_latest:
            st.finding("listing_mismatches", "round %d: %s/%s GET reads %s, the latest listed is %s" % (
                round_no, VERSIONED, k.name, latest, want_latest))
        k.versions = got
        k.ghosts = ghosts
        k.maybe_deleted = {v for v in k.maybe_deleted if v in got_ids}
        return want_latest != MARKER

    def exact(self, s3, iam, round_no, what):
        """Everything reads back exactly as last verified (no in-flight
        operation left to resolve): every key, every version in order,
        every user. A difference is a finding."""
        st = self.stats
        for k in (k for ks in self.plain for k in ks):
            got = self.read(s3, PLAIN, k.name, None, round_no)
            if got != k.acked and got is not UNREADABLE:
                st.finding("lost", "round %d %s: %s/%s is %s, was %s" % (
                    round_no, what, PLAIN, k.name, got, k.acked))
        for k in (k for ks in self.versioned for k in ks):
            got = []
            for page in s3.get_paginator("list_object_versions").paginate(Bucket=VERSIONED, Prefix=k.name):
                vs = [(v["LastModified"], v["VersionId"], v["IsLatest"], False)
                      for v in page.get("Versions", []) if v["Key"] == k.name]
                vs += [(v["LastModified"], v["VersionId"], v["IsLatest"], True)
                       for v in page.get("DeleteMarkers", []) if v["Key"] == k.name]
                got.extend(vs)
            got.sort(key=lambda v: (v[2], v[0], v[1]), reverse=True)
            got = [(vid, MARKER if marker else self.read(s3, VERSIONED, k.name, vid, round_no))
                   for _, vid, _, marker in got]
            if got != k.versions:
                st.finding("lost", "round %d %s: %s/%s versions %s, were %s" % (
                    round_no, what, VERSIONED, k.name, got, k.versions))
        for u in self.users:
            got = self.iam_state(iam, u)
            if got != u.acked:
                st.finding("lost", "round %d %s: IAM user %s is %s, was %s" % (
                    round_no, what, u.name, got, u.acked))

    def iam_state(self, iam, u):
        try:
            iam.get_user(UserName=u.name)
        except botocore.exceptions.ClientError as e:
            if e.response["Error"]["Code"] == "NoSuchEntity":
                return (False, None)
            raise
        try:
            doc = iam.get_user_policy(UserName=u.name, PolicyName="p")["PolicyDocument"]
        except botocore.exceptions.ClientError as e:
            if e.response["Error"]["Code"] == "NoSuchEntity":
                return (True, None)
            raise
        if isinstance(doc, str):
            doc = json.loads(urllib.parse.unquote(doc))
        return (True, json.dumps(doc, sort_keys=True))


# ---------------------------------------------------------------------------
# Phases: what runs in the middle of a round's workload, just before the
# cut. `rebuild` is a round of its own: the index is removed and the power
# cut while start-up rebuilds it from the drives.
# ---------------------------------------------------------------------------

# The drive held for `repair` (never drive 0: the index is there).
HELD = DRIVES - 1


def phase_none(cairn, rng):
    pass


def phase_compaction(cairn, rng):
    cairn.admin_post("background/compaction/run")


def phase_scrub(cairn, rng):
    cairn.admin_post("background/scrub/run")


def phase_repair(cairn, rng):
    """Writes taken while a drive is held are remembered for repair; the
    drive comes back and repair runs into the cut."""
    cairn.admin_post("drives/%d/offline" % HELD)
    time.sleep(rng.uniform(0.3, 1.0))
    cairn.admin_post("drives/%d/online" % HELD)


def wipe(mnt, d):
    """Wipes drive `d` through the mount, durably (an fsync of the mount's
    root commits it in either metadata model): what cairn writes to the new
    drive afterwards is what the cut may drop or tear."""
    path = os.path.join(mnt, "d%d" % d)
    gone = path + ".wiped"
    # Out of the way at once (cairn keeps writing into it), then deleted.
    os.rename(path, gone)
    os.makedirs(path)
    for p in (path, mnt):
        fd = os.open(p, os.O_RDONLY | os.O_DIRECTORY)
        os.fsync(fd)
        os.close(fd)
    for _ in range(20):
        shutil.rmtree(gone, ignore_errors=True)
        if not os.path.exists(gone):
            break
        time.sleep(0.1)


def wait_healing(cairn, d, timeout):
    """Waits until drive `d` is being healed; False if it never was."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if any(h["drive"] == d for h in cairn.healing()):
            return True
        time.sleep(0.05)
    return False


def phase_heal(cairn, rng):
    """A drive wiped while cairn runs: its probe formats it into its slot
    and the heal runs into the cut."""
    d = rng.randrange(1, DRIVES)
    wipe(cairn.mnt, d)
    if not wait_healing(cairn, d, 15):
        raise Failure("drive %d wiped at run time was not healing within 15 s" % d)
    cairn.wiped = d


PHASES = {"none": phase_none, "compaction": phase_compaction, "scrub": phase_scrub,
          "repair": phase_repair, "rebuild": None, "heal": phase_heal}


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(here, "..", "..", "target"))
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cuts", type=int, default=3)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--workers", type=int, default=3, help="S3 clients (one more does IAM)")
    p.add_argument("--keys", type=int, default=6, help="unversioned keys per worker")
    p.add_argument("--users", type=int, default=6)
    p.add_argument("--min-run", type=float, default=1.0, help="seconds of workload before a cut, at least")
    p.add_argument("--max-run", type=float, default=4.0)
    p.add_argument("--metadata", choices=["ordered", "posix"], default="ordered")
    p.add_argument("--phases", default="none", help="comma-separated phases drawn per round: " + ",".join(PHASES))
    p.add_argument("--no-multipart", action="store_true")
    p.add_argument("--start-timeout", type=float, default=120)
    p.add_argument("--heal-rate", default="8MiB",
                   help="cairn's --heal-rate and --heal-idle-rate: slow enough that cuts land in a heal")
    p.add_argument("--heal-timeout", type=float, default=300,
                   help="seconds a resumed heal may take to finish")
    p.add_argument("--no-lose-m", action="store_true",
                   help="after a heal, skip the start with two other drives moved away")
    p.add_argument("--work", help="keep everything here (default: a temporary directory, removed on success)")
    p.add_argument("--cairn-bin", default=os.environ.get("CAIRN_BIN", os.path.join(target, "debug", "cairn")))
    p.add_argument("--powerloss-bin", default=os.environ.get("POWERLOSS_BIN", os.path.join(target, "debug", "cairn-powerloss")))
    args = p.parse_args()
    phases = args.phases.split(",")
    unknown = [x for x in phases if x not in PHASES]
    if unknown:
        p.error("unknown phases %s: %s" % (unknown, ",".join(PHASES)))
    work = args.work or tempfile.mkdtemp(prefix="cairn-powerloss.", dir="/var/tmp")
    os.makedirs(work, exist_ok=True)
    rng = random.Random(args.seed)
    stats = Stats()
    wl = Workload(args, rng, stats)
    started = time.time()
    live = {}
    try:
        run(args, work, rng, stats, wl, phases, live)
    except Exception as e:
        print("campaign: harness failure: %r (work dir %s kept)" % (e, work), file=sys.stderr)
        if not isinstance(e, Failure):
            traceback.print_exc()
        cleanup(live)
        print_summary(args, stats, started)
        return 2
    bad = print_summary(args, stats, started)
    if bad:
        print("campaign: FAILED (work dir %s kept)" % work)
        return 1
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)
    print("campaign: ok")
    return 0


def cleanup(live):
    """Ends what a failed round left running: cairn by PID, then a clean
    unmount (the backing directory gets its files back)."""
    if live.get("stop"):
        live["stop"].set()
    if live.get("cairn"):
        live["cairn"].kill9()
    m = live.get("mount")
    if m and m.proc.poll() is None:
        try:
            m.unmount()
            m.proc.wait(timeout=60)
        except Exception:
            subprocess.run(["umount", "-l", m.mnt], check=False)
            m.proc.kill()
            m.proc.wait()


def print_summary(args, stats, started):
    c = stats.c
    print("campaign: seed %d, %d cuts in %.0f s (metadata %s)" % (
        args.seed, c["cuts"], time.time() - started, args.metadata))
    print("  phases: " + ", ".join("%s %d" % (k[len("phase_"):], v) for k, v in sorted(c.items())
                                   if k.startswith("phase_")))
    print("  acknowledged %d: %s" % (c["acknowledged"], ", ".join(
        "%s %d" % kv for kv in sorted(stats.by_op.items()))))
    print("  in flight at a cut %d: resolved applied %d, not applied %d" % (
        c["in_flight"], c["resolved_applied"], c["resolved_not_applied"]))
    print("  checked: %d keys, %d versions, %d IAM users per round, summed" % (
        c["checked_keys"], c["checked_versions"], c["checked_users"]))
    print("  the cuts: data writes applied %d, dropped %d, torn %d; namespace changes applied %d, dropped %d" % (
        c["cut_data_applied"], c["cut_data_dropped"], c["cut_data_torn"], c["cut_meta_applied"], c["cut_meta_dropped"]))
    bad = {k: c[k] for k in ("lost", "torn", "resurrected", "unreadable", "listing_mismatches", "order_mismatches", "errors_before_cut")}
    print("  heal: wiped at run time %d, at start %d; running at the cut %d; resumed heals finished %d; "
          "exact after the heal %d, and with 2 other drives away %d" % (
              c["heal_at_run_time"], c["heal_at_start"], c["heal_running_at_cut"],
              c["heals_finished_after_cut"], c["heal_checks_exact"], c["heal_checks_without_m"]))
    print("  lost %(lost)d, torn %(torn)d, resurrected %(resurrected)d, unreadable %(unreadable)d, "
          "listing mismatches %(listing_mismatches)d, order mismatches %(order_mismatches)d, "
          "errors before a cut %(errors_before_cut)d" % bad)
    for f in stats.findings[:50]:
        print("  " + f)
    return any(v for k, v in bad.items() if k != "errors_before_cut")


def after_heal(args, work, rng, stats, wl, live, round_no, healed):
    """A heal a cut interrupted resumes and finishes; then everything reads
    back exactly, also with two other drives moved away (so the healed one
    holds its share). Returns the cairn serving afterwards."""
    cairn = live["cairn"]
    deadline = time.time() + args.heal_timeout
    while cairn.healing():
        if time.time() > deadline:
            stats.finding("lost", "round %d: the heal did not finish in %.0f s: %s" % (
                round_no, args.heal_timeout, cairn.healing()))
            return cairn
        time.sleep(0.2)
    stats.add("heals_finished_after_cut")
    s3, iam = cairn.s3(), cairn.iam()
    wl.exact(s3, iam, round_no, "after the heal of drive %d" % healed)
    stats.add("heal_checks_exact")
    if args.no_lose_m:
        return cairn
    # Drive 0 holds the index and HELD is brought online by every start.
    away = rng.sample([x for x in range(1, HELD) if x != healed], 2)
    mnt = live["mount"].mnt

    def move(a, b):
        for x in away:
            os.rename(os.path.join(mnt, a % x), os.path.join(mnt, b % x))
        fd = os.open(mnt, os.O_RDONLY | os.O_DIRECTORY)
        os.fsync(fd)
        os.close(fd)

    cairn.stop()
    move("d%d", "d%d.away")
    cairn = live["cairn"] = Cairn(args, work, mnt, round_no)
    wl.exact(cairn.s3(), cairn.iam(), round_no,
             "after the heal of drive %d, drives %s away" % (healed, away))
    stats.add("heal_checks_without_m")
    cairn.stop()
    move("d%d.away", "d%d")
    cairn = live["cairn"] = Cairn(args, work, mnt, round_no)
    cairn.admin_post("drives/%d/online" % HELD)
    return cairn


def run(args, work, rng, stats, wl, phases, live):
    healed = None  # the drive whose heal the last cut interrupted
    for round_no in range(args.cuts + 1):
        live.clear()
        mount = live["mount"] = Mount(args, work)
        if round_no == 0:
            # The drives are there before cairn (mount points in a real
            # machine): made durably here, in either metadata model.
            for i in range(DRIVES):
                os.makedirs(os.path.join(mount.mnt, "d%d" % i), exist_ok=True)
            fd = os.open(mount.mnt, os.O_RDONLY | os.O_DIRECTORY)
            os.fsync(fd)
            os.close(fd)
        phase = rng.choice(phases) if 0 < round_no < args.cuts else "none"
        if phase == "rebuild":
            # Through the mount, so that the removal is itself a change the
            # cut may keep or drop.
            shutil.rmtree(os.path.join(mount.mnt, "d0", ".cairn", "index"), ignore_errors=True)
            cairn = live["cairn"] = Cairn(args, work, mount.mnt, round_no, wait=False)
            run_for = rng.uniform(0.05, 1.5)
            time.sleep(run_for)
            cut(stats, mount, cairn, rng, round_no, run_for, "rebuild", [])
            continue
        # The heal phase wipes a drive while the node runs, or while it is
        # down (then the heal starts at start-up).
        at_start = rng.randrange(1, DRIVES) if phase == "heal" and rng.random() < 0.5 else None
        cairn = live["cairn"] = Cairn(args, work, mount.mnt, round_no)
        s3, iam = cairn.s3(), cairn.iam()
        if round_no > 0:
            # A hold a cut kept would leave the drive out for good.
            cairn.admin_post("drives/%d/online" % HELD)
        if round_no == 0:
            s3.create_bucket(Bucket=PLAIN)
            s3.create_bucket(Bucket=VERSIONED)
            s3.put_bucket_versioning(Bucket=VERSIONED, VersioningConfiguration={"Status": "Enabled"})
        else:
            wl.verify(s3, iam, round_no)
        if healed is not None:
            cairn = after_heal(args, work, rng, stats, wl, live, round_no, healed)
            s3, iam = cairn.s3(), cairn.iam()
            healed = None
        if at_start is not None:
            cairn.stop()
            wipe(mount.mnt, at_start)
            cairn = live["cairn"] = Cairn(args, work, mount.mnt, round_no)
            cairn.wiped = at_start
            s3, iam = cairn.s3(), cairn.iam()
            if not wait_healing(cairn, at_start, 15):
                raise Failure("drive %d wiped while the node was down is not healing" % at_start)
            # Served from the others while the drive heals (paused
            # meanwhile, so that the cut still finds it running).
            cairn.admin_post("background/heal/pause")
            wl.exact(s3, iam, round_no, "while drive %d heals" % at_start)
            cairn.admin_post("background/heal/resume")
            stats.add("heal_at_start")
        elif phase == "heal":
            stats.add("heal_at_run_time")
        if round_no == args.cuts:
            cairn.stop()
            mount.unmount()
            mount.wait()
            return
        wl.cut_at = None
        stop = live["stop"] = threading.Event()
        threads = [threading.Thread(target=wl.s3_worker, args=(w, cairn.s3(), stop, rng.random()))
                   for w in range(args.workers)]
        threads.append(threading.Thread(target=wl.iam_worker, args=(cairn.iam(), stop, rng.random())))
        for t in threads:
            t.start()
        run_for = rng.uniform(args.min_run, args.max_run)
        if at_start is not None:
            # The heal started with the node: cut soon.
            run_for = rng.uniform(0.2, args.min_run)
        time.sleep(run_for / 2)
        if at_start is None:
            PHASES[phase](cairn, rng)
        time.sleep(run_for / 2)
        if cairn.wiped is not None:
            healed = cairn.wiped
            if any(h["drive"] == healed for h in cairn.healing()):
                stats.add("heal_running_at_cut")
        wl.cut_at = time.time()
        cut(stats, mount, cairn, rng, round_no, run_for, phase, threads, stop)


def cut(stats, mount, cairn, rng, round_no, run_for, phase, threads, stop=None):
    """Cuts the power, ends cairn and the clients, and counts what the cut did."""
    report = mount.cut(rng.randrange(1 << 63))
    if stop:
        stop.set()
    cairn.kill9()
    for t in threads:
        t.join(timeout=120)
        if t.is_alive():
            raise Failure("a client thread did not end after the cut")
    mount.wait()
    stats.add("cuts")
    stats.add("phase_" + phase)
    for k in ("data_applied", "data_dropped", "data_torn", "meta_applied", "meta_dropped"):
        stats.add("cut_" + k, report[k])
    print("cut %d (%s) after %.1f s: %s; acknowledged so far %d" % (
        round_no + 1, phase, run_for, json.dumps(report), stats.c["acknowledged"]), flush=True)


if __name__ == "__main__":
    sys.exit(main())
