#!/usr/bin/python3
"""The power-cut suite's tools (tests/powercut/README):

  powercut.py send MANIFEST N SEED PORT   mail smtpd, note each 250
  powercut.py extents OUT FILE...         physical ranges of files
  powercut.py lastwrite TRACE             offset, length of the last write
  powercut.py plan TRACE MANIFEST EXTENTS N   flush points to cut at
  powercut.py subset PLAN N SEED          N of a plan's flush points
  powercut.py build TRACE K SEED SIZE-MB OUT  crash image at flush K
  powercut.py check MANIFEST T SPOOL      acknowledged mail still queued?

Times are CLOCK_MONOTONIC nanoseconds, blkfuse's clock (time.monotonic_ns).
"""
import hashlib
import mmap
import os
import random
import re
import smtplib
import struct
import subprocess
import sys
import time

REC = struct.Struct("<IIQQ")	# type, len, off, ns: blkfuse.c's struct rec
W, Z, S = ord("W"), ord("Z"), ord("S")
INLINE_MAX = 60000		# well under the helper's 64 KB inline limit
BIG_MIN = 70000			# well over it: kept in place


def records(path):
	"""Every record of a trace: (type, off, len, ns, data offset)."""
	with open(path, "rb") as f:
		m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
	out, pos = [], 0
	while pos + REC.size <= len(m):
		t, n, off, ns = REC.unpack_from(m, pos)
		pos += REC.size
		out.append((t, off, n, ns, pos))
		if t == W:
			pos += n
	return m, out


def body_of(token, size):
	"""The body of a mail: its token, then hex lines (no dot-stuffing)."""
	hexa = random.Random(token).randbytes(size // 2).hex()
	lines = ["token " + token] + [hexa[i:i + 76]
	    for i in range(0, len(hexa), 76)]
	return "\n".join(lines) + "\n"


def deliver(port, rcpts, msg):
	"""Send one mail; the time of its 250, read just after it came."""
	with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
		s.sendmail("pc@sender.test", rcpts, msg.encode())
		return time.monotonic_ns()


def send(manifest, n, seed, port):
	rng = random.Random(seed)
	acked = 0
	with open(manifest, "w") as out:
		for i in range(n):
			token = "pc%s-%d" % (seed, i)
			size = rng.randint(500, INLINE_MAX) if i % 2 == 0 else \
			    rng.randint(BIG_MIN, 200000)
			rcpts = ["%s@relay.test" % r for r in
			    rng.sample("abc", rng.randint(1, 3))]
			body = body_of(token, size)
			msg = ("From: pc@sender.test\nTo: %s\nSubject: %s\n"
			    "Message-Id: <%s@powercut.test>\nX-PC-Token: %s\n\n"
			    % (", ".join(rcpts), token, token, token)) + body
			t0 = time.monotonic_ns()
			try:
				t250 = deliver(port, rcpts, msg)
			except (OSError, smtplib.SMTPException) as e:
				print("# %s not accepted: %s" % (token, e))
				continue
			acked += 1
			out.write("%s %d %d %s %s %d\n" % (token, t0, t250,
			    ",".join(rcpts), hashlib.sha256(
			    body.encode()).hexdigest(), len(body)))
			out.flush()
			time.sleep(rng.uniform(0, 0.3))
	print("# sent %d mails, %d acknowledged" % (n, acked))
	return 0 if acked > 0 else 1


def extents(out, files):
	"""filefrag's physical extents of FILES, in bytes: 'name start len'."""
	with open(out, "w") as f:
		for path in files:
			if not os.path.exists(path):
				continue
			txt = subprocess.run(["filefrag", "-v", path],
			    capture_output=True, text=True).stdout
			bs = int(re.search(r"blocks? of (\d+) bytes", txt)[1])
			for m in re.finditer(r"^\s*\d+:\s+\d+\.\.\s*\d+:\s+"
			    r"(\d+)\.\.\s*\d+:\s+(\d+):", txt, re.M):
				f.write("%s %d %d\n" % (os.path.basename(path),
				    int(m[1]) * bs, int(m[2]) * bs))
	return 0


def lastwrite(trace):
	_, recs = records(trace)
	last = [r for r in recs if r[0] == W]
	print("%d %d" % (last[-1][1], last[-1][2]) if last else "none")
	return 0


def read_manifest(path):
	mails = []
	with open(path) as f:
		for line in f:
			tok, t0, t250, rcpts, h, size = line.split()
			mails.append((tok, int(t0), int(t250), rcpts.split(","),
			    h, int(size)))
	return mails


def switches(recs, extpath):
	"""Indexes of writes that go to the other log file than the last."""
	ranges = []
	with open(extpath) as f:
		for line in f:
			name, start, n = line.split()
			ranges.append((name, int(start), int(start) + int(n)))
	out, cur = [], None
	for i, r in enumerate(recs):
		if r[0] != W:
			continue
		for name, lo, hi in ranges:
			if lo <= r[1] < hi:
				if cur is not None and name != cur:
					out.append(i)
				cur = name
	return out


def plan(trace, manifest, extpath, n):
	"""N flushes to cut at: evenly spread from the first 250 to 2 s after
	the last (early, middle, late) and, when the log files are known, at each log switch (the
	flush before the first write to the other file, and the one after)."""
	_, recs = records(trace)
	mails = read_manifest(manifest)
	lo, hi = mails[0][2], mails[-1][2] + 2 * 10**9
	flushes = [i for i, r in enumerate(recs) if r[0] == S and
	    lo <= r[3] <= hi]
	if not flushes:
		print("# no flush while sending")
		return 1
	pick = {}
	for w in switches(recs, extpath):
		before = [k for k in flushes if k < w]
		after = [k for k in flushes if k > w]
		for k in before[-1:] + after[:1]:
			if len(pick) < n // 3:
				pick[k] = "switch"
	want = min(n, len(flushes))
	step = len(flushes) / max(1, want - len(pick))
	j = 0.0
	while len(pick) < want and j < len(flushes):
		pick.setdefault(flushes[int(j)], "spread")
		j += step
	for k in flushes:
		if len(pick) >= want:
			break
		pick.setdefault(k, "spread")
	for k in sorted(pick):
		print("%d %d %s" % (k, recs[k][3], pick[k]))
	return 0


def subset(path, n, seed):
	"""N lines of the plan PATH, seeded: up to half of them at log
	switches, the rest spread evenly over the others."""
	with open(path) as f:
		lines = f.read().splitlines()
	rng = random.Random("%s:subset" % seed)
	sw = [x for x in lines if x.endswith(" switch")]
	rest = [x for x in lines if not x.endswith(" switch")]
	pick = rng.sample(sw, min(len(sw), n // 2))
	want = min(n - len(pick), len(rest))
	if want > 0:
		step = len(rest) / want
		j = rng.uniform(0, step)
		pick += [rest[int(j + i * step)] for i in range(want)]
	for x in sorted(pick, key=lambda x: int(x.split()[0])):
		print(x)
	return 0


def build(trace, k, seed, mb, out):
	"""Every write before flush K, and a random subset of those between
	it and the next flush: what a disk may hold when the power goes."""
	m, recs = records(trace)
	img = bytearray(mb << 20)
	rng = random.Random("%s:%d" % (seed, k))
	pending = taken = 0
	for i, (t, off, n, ns, pos) in enumerate(recs):
		if i > k and t == S:
			break
		if t not in (W, Z):
			continue
		if i > k:
			pending += 1
			if rng.random() < 0.5:
				continue
			taken += 1
		img[off:off + n] = m[pos:pos + n] if t == W else bytes(n)
	with open(out, "wb") as f:
		f.write(img)
	print("# flush %d: %d of %d later writes kept" % (k, taken, pending))
	return 0


def queued(spool):
	"""token -> message directory, for every message file in queue/, and
	the directories whose message file has no token (empty, torn)."""
	found, blank = {}, []
	q = os.path.join(spool, "queue")
	for bucket in os.listdir(q) if os.path.isdir(q) else []:
		for msgid in os.listdir(os.path.join(q, bucket)):
			d = os.path.join(q, bucket, msgid)
			try:
				with open(os.path.join(d, "message"), "rb") as f:
					head = f.read(8192)
			except OSError:
				head = b""
			m = re.search(rb"^X-PC-Token: (\S+)", head, re.M)
			if m:
				found[m[1].decode()] = d
			else:
				blank.append(d)
	return found, blank


def verdict(d, rcpts, digest):
	"""None if the mail in D is intact with all its envelopes, else why
	and whether it is 'lost' or 'torn'."""
	with open(os.path.join(d, "message"), "rb") as f:
		data = f.read().replace(b"\r\n", b"\n")
	body = data.split(b"\n\n", 1)[1] if b"\n\n" in data else b""
	# smtpd ends the file with one more newline than the mail had
	body = body.rstrip(b"\n") + b"\n"
	if hashlib.sha256(body).hexdigest() != digest:
		return "torn", "body of %d bytes differs" % len(body)
	seen = []
	for e in os.listdir(d):
		if e == "message":
			continue
		with open(os.path.join(d, e), "rb") as f:
			m = re.search(rb"^rcpt: (\S+)", f.read(), re.M)
		if m is None:
			return "torn", "envelope %s unreadable" % e
		seen.append(m[1].decode())
	if sorted(seen) != sorted(rcpts):
		return "lost", "envelopes for %s, sent to %s" % (
		    ",".join(sorted(seen)) or "nobody", ",".join(rcpts))
	return None


def check(manifest, t, spool):
	"""Every mail acknowledged before T: queued, intact, all envelopes.
	Prints the first few bad mails, then 'checked N lost N torn N stray
	N': stray counts the other incomplete message directories in queue/,
	remains of lost mail or of commits never acknowledged (allowed:
	smtpd never accepted that mail)."""
	found, blank = queued(spool)
	n = lost = torn = 0
	stray = len(blank)
	for tok, t0, t250, rcpts, digest, size in read_manifest(manifest):
		if t250 >= t:
			if tok in found and verdict(found[tok], rcpts, digest):
				stray += 1
			continue
		n += 1
		bad = ("lost", "not in queue/") if tok not in found else \
		    verdict(found[tok], rcpts, digest)
		if bad is None:
			continue
		if bad[0] == "lost":
			lost += 1
		else:
			torn += 1
		if lost + torn <= 3:
			print("# %s (%d bytes, acked %.3fs before the flush): "
			    "%s: %s" % (tok, size, (t - t250) / 1e9, bad[0],
			    bad[1]))
	print("checked %d lost %d torn %d stray %d" % (n, lost, torn, stray))
	return 0


def main(a):
	cmds = {
		"send": lambda: send(a[0], int(a[1]), a[2], int(a[3])),
		"extents": lambda: extents(a[0], a[1:]),
		"lastwrite": lambda: lastwrite(a[0]),
		"plan": lambda: plan(a[0], a[1], a[2], int(a[3])),
		"subset": lambda: subset(a[0], int(a[1]), a[2]),
		"build": lambda: build(a[0], int(a[1]), a[2], int(a[3]),
		    a[4]),
		"check": lambda: check(a[0], int(a[1]), a[2]),
	}
	if not a or a[0] not in cmds:
		print(__doc__, file=sys.stderr)
		return 2
	cmd, a = cmds[a[0]], a[1:]
	return cmd()


if __name__ == "__main__":
	sys.exit(main(sys.argv[1:]))
