#!/usr/bin/env python3
"""A tiny SMTP sink for the end-to-end tests (stdlib only).

    smtp-sink.py --port PORT --dir DIR [--host 127.0.0.1] [--lifetime SECONDS]

Accepts every transaction and writes it to DIR/NNNNNN.eml as:

    X-Sink-Mail-From: <sender>
    X-Sink-Rcpt-To: <rcpt>          (one line per RCPT TO)
    X-Sink-Session: N
    <the DATA, dot-unstuffed, CRLF kept: its headers continue the above>

The file is written under a temporary name and renamed, so a reader never
sees half a message.  The sink exits by itself after --lifetime seconds
(default 120) so a test can never leave it behind, and on SIGTERM.
It only ever binds the loopback address it is given.
"""

import argparse
import os
import signal
import socket
import sys
import threading
import time


def log(msg):
    sys.stderr.write("smtp-sink: %s\n" % msg)
    sys.stderr.flush()


class Counter:
    def __init__(self):
        self.lock = threading.Lock()
        self.n = 0

    def next(self):
        with self.lock:
            self.n += 1
            return self.n


def serve_session(conn, peer, outdir, msgs, sessions):
    sid = sessions.next()
    conn.settimeout(60)
    rfile = conn.makefile("rb")

    def send(line):
        conn.sendall(line.encode("ascii") + b"\r\n")

    def readline():
        line = rfile.readline(65536)
        if not line:
            raise EOFError
        return line

    send("220 sink.test ESMTP qfp-e2e sink")
    mail_from = None
    rcpts = []
    try:
        while True:
            raw = readline()
            line = raw.decode("latin-1").rstrip("\r\n")
            verb = line[:4].upper()
            if verb in ("EHLO",):
                send("250-sink.test")
                send("250-8BITMIME")
                send("250 SIZE 104857600")
            elif verb == "HELO":
                send("250 sink.test")
            elif line[:10].upper() == "MAIL FROM:":
                mail_from = line[10:].strip()
                rcpts = []
                send("250 2.0.0 sender ok")
            elif line[:8].upper() == "RCPT TO:":
                if mail_from is None:
                    send("503 5.5.1 need MAIL first")
                    continue
                rcpts.append(line[8:].strip())
                send("250 2.1.5 recipient ok")
            elif verb == "DATA":
                if mail_from is None or not rcpts:
                    send("503 5.5.1 need MAIL and RCPT first")
                    continue
                send("354 go ahead")
                data = []
                while True:
                    d = readline()
                    if d in (b".\r\n", b".\n"):
                        break
                    if d.startswith(b"."):
                        d = d[1:]
                    data.append(d)
                n = msgs.next()
                name = "%06d-%d-%d.eml" % (n, os.getpid(), sid)
                tmp = os.path.join(outdir, "." + name + ".tmp")
                with open(tmp, "wb") as f:
                    f.write(("X-Sink-Mail-From: %s\r\n" % mail_from).encode("latin-1"))
                    for r in rcpts:
                        f.write(("X-Sink-Rcpt-To: %s\r\n" % r).encode("latin-1"))
                    f.write(("X-Sink-Session: %d\r\n" % sid).encode("ascii"))
                    f.write(b"".join(data))
                    f.flush()
                    os.fsync(f.fileno())
                os.rename(tmp, os.path.join(outdir, name))
                log("session %d: stored %s from %s to %s" % (sid, name, mail_from, ",".join(rcpts)))
                mail_from = None
                rcpts = []
                send("250 2.0.0 queued as %d" % n)
            elif verb == "RSET":
                mail_from = None
                rcpts = []
                send("250 2.0.0 reset")
            elif verb == "NOOP":
                send("250 2.0.0 ok")
            elif verb == "QUIT":
                send("221 2.0.0 bye")
                break
            else:
                send("502 5.5.2 command not implemented")
    except (EOFError, OSError, socket.timeout):
        pass
    finally:
        try:
            conn.close()
        except OSError:
            pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--lifetime", type=float, default=120.0)
    a = ap.parse_args()

    if not (a.host.startswith("127.") or a.host == "::1"):
        log("refusing to listen on non-loopback address %s" % a.host)
        return 2
    os.makedirs(a.dir, exist_ok=True)

    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    signal.signal(signal.SIGALRM, lambda *_: (log("lifetime over"), os._exit(0)))
    signal.alarm(max(1, int(a.lifetime)))

    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((a.host, a.port))
    s.listen(16)
    log("listening on %s:%d, writing to %s" % (a.host, a.port, a.dir))
    msgs, sessions = Counter(), Counter()
    deadline = time.time() + a.lifetime
    while time.time() < deadline:
        try:
            conn, peer = s.accept()
        except InterruptedError:
            continue
        t = threading.Thread(target=serve_session,
                             args=(conn, peer, a.dir, msgs, sessions),
                             daemon=True)
        t.start()
    return 0


if __name__ == "__main__":
    sys.exit(main())
