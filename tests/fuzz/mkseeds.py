#!/usr/bin/env python3
"""Seed corpora for the fuzz harnesses, from the real smtpd vectors.

    mkseeds.py VECTOR_DIR OUT_DIR

VECTOR_DIR holds smtpd-*.jsonl (tests/vectors, see its README.md);
OUT_DIR gets fuzz_imsg/ and fuzz_dispatch/ with one binary file per seed.

fuzz_imsg input: records [ctrl u8][len u16 big-endian][bytes]; ctrl bit 0
attaches an fd to that chunk's sendmsg(), bit 1 a second one, bit 2 reads
after the chunk (otherwise chunks pile up before the next read).

fuzz_dispatch input: [options u8] then records [type u8][flags u8]
[len u16 big-endian][payload]; flags bit 0 attaches an fd (bits 1-2 its
kind: 0 a regular file), bit 3 replaces the id in the payload with one the
harness saw in an answer, bits 4-6 which one (0 the latest), bit 7 marks
the fd as dialect B.  Types 0xf0 and up damage the spool or restart the
store (see fuzz_dispatch.c).
"""
import glob
import json
import os
import struct
import sys

MSGID_TYPES = {5, 6, 7, 8}      # payload starts with a msgid
EVPID_TYPES = {9, 10, 11}       # payload starts with an evpid


def imsg_record(raw, fd, read_after=True, ctrl_extra=0):
    ctrl = (1 if fd else 0) | (4 if read_after else 0) | ctrl_extra
    return struct.pack(">BH", ctrl, len(raw)) + raw


def load(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def main():
    vdir, out = sys.argv[1], sys.argv[2]
    os.makedirs(os.path.join(out, "fuzz_imsg"), exist_ok=True)
    os.makedirs(os.path.join(out, "fuzz_dispatch"), exist_ok=True)
    n = 0

    def put(kind, name, data):
        nonlocal n
        assert len(data) <= 40000, (name, len(data))
        with open(os.path.join(out, kind, name), "wb") as f:
            f.write(data)
        n += 1

    for path in sorted(glob.glob(os.path.join(vdir, "smtpd-*.jsonl"))):
        tag = os.path.basename(path)[:-len(".jsonl")]
        entries = load(path)
        framing = entries[0]["framing"]
        reqs = [e for e in entries if e["dir"] == "request"]
        # imsg: the whole session, one sendmsg per request as smtpd does
        sess = b"".join(imsg_record(bytes.fromhex(e["hex"]), e["fd"])
                        for e in reqs)
        put("fuzz_imsg", tag + "-session", sess)
        # the same bytes piled up: several messages per read
        sess2 = b"".join(imsg_record(bytes.fromhex(e["hex"]), e["fd"],
                                     read_after=(i % 5 == 4))
                         for i, e in enumerate(reqs))
        put("fuzz_imsg", tag + "-piled", sess2)
        # answers, as the client reads them
        answers = b"".join(imsg_record(bytes.fromhex(e["hex"]),
                                       e["fd"]) for e in entries
                           if e["dir"] == "answer")
        put("fuzz_imsg", tag + "-answers", answers)
        # each request type once, split in two chunks
        seen = set()
        for e in reqs:
            if e["type"] in seen:
                continue
            seen.add(e["type"])
            raw = bytes.fromhex(e["hex"])
            cut = min(7, len(raw))
            put("fuzz_imsg", "%s-type%d-split" % (tag, e["type"]),
                imsg_record(raw[:cut], e["fd"], False) +
                imsg_record(raw[cut:], False, True))

        # dispatch: the session with ids mapped to the ones the harness
        # will have seen (created msgids, created or walked evpids)
        msgids, evpids = [], []
        recs = []
        pending = None
        for e in entries:
            raw = bytes.fromhex(e["hex"])
            if e["dir"] == "request":
                t = e["type"]
                payload = raw[16:]
                flags = 1 if e["fd"] else 0
                if framing == "B" and e["fd"]:
                    flags |= 0x80
                if t in MSGID_TYPES and len(payload) >= 4:
                    mid = struct.unpack("<I", payload[:4])[0]
                    if mid in msgids:
                        back = len(msgids) - 1 - msgids.index(mid)
                        if back < 8:
                            flags |= 0x08 | (back << 4)
                if t in EVPID_TYPES and len(payload) >= 8:
                    eid = struct.unpack("<Q", payload[:8])[0]
                    if eid in evpids:
                        back = len(evpids) - 1 - evpids.index(eid)
                        if back < 8:
                            flags |= 0x08 | (back << 4)
                recs.append(struct.pack(">BBH", t, flags, len(payload))
                            + payload)
                pending = t
            else:
                payload = raw[16:]
                if pending == 4 and len(payload) == 8:
                    msgids.append(struct.unpack("<I", payload[4:8])[0])
                if pending == 8 and len(payload) == 12:
                    evpids.append(struct.unpack("<Q", payload[4:12])[0])
                if pending == 12 and len(payload) > 12:
                    r = struct.unpack("<i", payload[:4])[0]
                    if r > 0:
                        evpids.append(struct.unpack("<Q",
                                                    payload[4:12])[0])
        for opt in (0x00, 0x01, 0x02 | 0x08):
            put("fuzz_dispatch", "%s-session-opt%02x" % (tag, opt),
                bytes([opt]) + b"".join(recs))
        # short sessions: create, envelope, commit, fd_r, load, delete
        put("fuzz_dispatch", tag + "-first8", bytes([0]) + b"".join(recs[:8]))
        # a committed message, the spool damaged, a restart, a walk
        walk = struct.pack(">BBH", 12, 0, 0)
        restart = struct.pack(">BBH", 0xf4, 0, 0)
        for op, arg in ((0xf0, b""), (0xf1, b"\x01bogus"), (0xf1, b"zz"),
                        (0xf2, b"\x01"), (0xf3, b"\x01"), (0xf3, b""),
                        (0xf5, b"")):
            put("fuzz_dispatch", "%s-spool-%02x-%s" % (tag, op,
                                                       arg.hex() or "0"),
                bytes([1]) + b"".join(recs[:6]) +
                struct.pack(">BBH", op, 0, len(arg)) + arg + restart +
                walk * 6)
    print("mkseeds: %d seeds in %s" % (n, out))


if __name__ == "__main__":
    main()
