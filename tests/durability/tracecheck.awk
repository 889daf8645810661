# Check an strace of queue-fs-proc for the durability contract, or count
# its fsync-class calls.  The trace must come from
#   strace -f -tt -y -x -s 64 -e trace=<test-ordering.sh's set> -o TRACE
# (test-ordering.sh runs tests/lib/qfp-drive so): -y puts each fd's path
# next to it, -x shows the imsg bytes of requests and answers as \xHH.
#
#   awk -v mode=check -f tracecheck.awk TRACE
#   awk -v mode=count -f tracecheck.awk TRACE
#
# Requests are the recvmsg()s on fd 0 after the execve of "queue-proc",
# decoded from their bytes (type, msgid, evpid); each one's answer is
# the next sendmsg() on fd 0 (r, and the evpid of ENVELOPE_CREATE).  For
# every answer with r = 1 to a request that must be durable, the calls
# made between the request and its answer must include, in this order:
#
#   MESSAGE_COMMIT M	the message put in place (the last write to
#			incoming/M/message, or the rename of smtpd's
#			temporary/M to incoming/M/message) < syncfs()
#			(no write under incoming/M/ after it) < rename of
#			incoming/M to queue/XX/M < fsync(queue/XX); and when
#			queue/XX was made in that request, fsync(queue) after
#			the mkdir.  smtpd never syncs temporary/M: the
#			syncfs covers its data as it covers a copy's.
#   ENVELOPE_CREATE	on a committed message, and ENVELOPE_UPDATE: last
#			write to the temporary file < fsync(temporary file)
#			< rename into queue/XX/M/EVPID < fsync(queue/XX/M).
#			On a message still incoming: the envelope file is
#			written under incoming/M/, after the answer but
#			before the next request is read (the commit's
#			syncfs makes it durable; "deferred").
#   ENVELOPE_DELETE E	unlink of queue/XX/M/E < fsync(queue/XX/M); or,
#			when the message directory is removed too, < rmdir
#			< fsync(queue/XX).
#
# Every fsync-class call counted must have returned 0.  Output: one
# "  ok" or "  BAD" line per durable answer, then "required L" (a line
# whose sync call a rule relied on) and "movable L R" (a sync at line L
# that must come before the rename at line R), for the self-test, then a
# summary line.  Exit 0 when nothing is BAD and something was checked.
#
# mode=count prints, per message, the fsync-class calls made while it
# was accepted (MESSAGE_CREATE, its ENVELOPE_CREATEs, MESSAGE_COMMIT)
# and while it was delivered (ENVELOPE_DELETEs), and for envelope
# creates on the committed message and updates: "msg ID accept A
# deliver D other O", then "total T" over the whole trace.

BEGIN {
	for (i = 32; i < 127; i++)
		ORD[sprintf("%c", i)] = i
	HEX = "0123456789abcdef"
	SYNCS = "|fsync|fdatasync|syncfs|sync|sync_file_range|msync|"
	WRITES = "|write|pwrite64|writev|pwritev|pwritev2|copy_file_range|sendfile|splice|"
	RENAMES = "|rename|renameat|renameat2|"
	split("OK FAIL INIT CLOSE MESSAGE_CREATE MESSAGE_DELETE MESSAGE_COMMIT MESSAGE_FD_R ENVELOPE_CREATE ENVELOPE_DELETE ENVELOPE_LOAD ENVELOPE_UPDATE ENVELOPE_WALK", TN, " ")
	n = 0; nreq = 0; started = 0; bad = 0; checked = 0; deferred = 0
	if (mode == "")
		mode = "check"
}

function lastidx(s, t,    p, q) {
	p = 0
	while ((q = index(substr(s, p + 1), t)) > 0)
		p += q
	return p
}

# Decode the inside of a strace string literal into B[0..len-1].
function decode(s,    len, i, c, h) {
	len = 0
	for (i = 1; i <= length(s); i++) {
		c = substr(s, i, 1)
		if (c != "\\") {
			B[len++] = ORD[c]
			continue
		}
		c = substr(s, ++i, 1)
		if (c == "x") {
			h = tolower(substr(s, i + 1, 2))
			B[len++] = (index(HEX, substr(h, 1, 1)) - 1) * 16 + \
			    index(HEX, substr(h, 2, 1)) - 1
			i += 2
		} else if (c == "n") B[len++] = 10
		else if (c == "t") B[len++] = 9
		else if (c == "r") B[len++] = 13
		else if (c == "v") B[len++] = 11
		else if (c == "f") B[len++] = 12
		else if (c ~ /[0-7]/) {
			h = 0
			while (c ~ /[0-7]/ && h < 64) {
				h = h * 8 + c
				c = substr(s, ++i, 1)
			}
			i--
			B[len++] = h
		} else
			B[len++] = ORD[c]
	}
	return len
}

# All iov_base strings of a sendmsg/recvmsg, concatenated, into B[].
function iovbytes(args,    len, s, m, k) {
	len = 0
	s = args
	while (match(s, /iov_base="([^"\\]|\\.)*"/)) {
		m = substr(s, RSTART + 10, RLENGTH - 11)
		s = substr(s, RSTART + RLENGTH)
		k = decode(m)
		for (j = 0; j < k; j++)
			ALL[len + j] = B[j]
		len += k
	}
	for (j = 0; j < len; j++)
		B[j] = ALL[j]
	return len
}

function le32(o) {
	return B[o] + 256 * B[o + 1] + 65536 * B[o + 2] + 16777216 * B[o + 3]
}

function hex4(o) {
	return sprintf("%02x%02x%02x%02x", B[o + 3], B[o + 2], B[o + 1], B[o])
}

# Paths of the fd arguments into FP[1..k]; quoted strings into QS[1..k].
function fdpaths(args,    k, s, m) {
	k = 0
	s = args
	while (match(s, /[0-9]+<[^>]*>/)) {
		m = substr(s, RSTART, RLENGTH)
		sub(/^[0-9]+</, "", m)
		sub(/>$/, "", m)
		FP[++k] = m
		s = substr(s, RSTART + RLENGTH)
	}
	return k
}

function qstrs(args,    k, s) {
	k = 0
	s = args
	while (match(s, /"([^"\\]|\\.)*"/)) {
		QS[++k] = substr(s, RSTART + 1, RLENGTH - 2)
		s = substr(s, RSTART + RLENGTH)
	}
	return k
}

function short(p) {
	sub(/.*\/spool\//, "", p)
	return p
}

function ends(s, t) {
	return length(s) >= length(t) && substr(s, length(s) - length(t) + 1) == t
}

{
	line = $0
	lno = NR
	pid = $1
	if (line ~ /<unfinished \.\.\.>$/) {
		sub(/ *<unfinished \.\.\.>$/, "", line)
		PEND[pid] = line
		PENDNO[pid] = NR
		next
	}
	if (line ~ /<\.\.\. [a-z0-9_]+ resumed>/) {
		rest = line
		sub(/^.*<\.\.\. [a-z0-9_]+ resumed> */, "", rest)
		if (!(pid in PEND))
			next
		line = PEND[pid] rest
		lno = PENDNO[pid]
		delete PEND[pid]
	}
	sub(/^[0-9]+ +/, "", line)
	sub(/^[0-9:.]+ +/, "", line)
	if (line !~ /^[a-z0-9_]+\(/)
		next
	if (!started) {
		if (line ~ /^execve\(/ && line ~ /\["queue-proc"/)
			started = 1
		next
	}
	p = lastidx(line, ") = ")
	if (p == 0)
		next
	name = substr(line, 1, index(line, "(") - 1)
	args = substr(line, length(name) + 2, p - length(name) - 2)
	ret = substr(line, p + 4)
	n++
	EN[n] = name; ERET[n] = ret; ELN[n] = lno
	EPATH[n] = ""; ENAME[n] = ""
	k = fdpaths(args)
	q = qstrs(args)
	if (index(WRITES, "|" name "|")) {
		EPATH[n] = (name == "copy_file_range" || name == "splice") ? FP[2] : FP[1]
	} else if (index(SYNCS, "|" name "|")) {
		EPATH[n] = k ? FP[1] : ""
		nsync++
	} else if (index(RENAMES, "|" name "|")) {
		if (name == "rename") {
			EOD[n] = ""; EON[n] = QS[1]; END_[n] = ""; ENN[n] = QS[2]
		} else {
			EOD[n] = FP[1]; EON[n] = QS[1]; END_[n] = FP[2]; ENN[n] = QS[2]
		}
	} else if (name == "unlinkat" || name == "mkdirat") {
		EPATH[n] = FP[1]; ENAME[n] = QS[1]
		EFLAG[n] = index(args, "AT_REMOVEDIR") > 0
	} else if (name == "recvmsg" && args ~ /^0</ && ret + 0 > 0) {
		len = iovbytes(args)
		nreq++
		RS_[nreq] = n; RE_[nreq] = 0; RANS[nreq] = ""
		RT[nreq] = le32(0)
		RMSG[nreq] = hex4(16)
		REVP[nreq] = hex4(20) hex4(16)
		RLN[nreq] = lno
		if (len >= 6 && B[4] + 256 * B[5] != ret + 0) {
			print "  BAD  line " lno ": a recvmsg holding " ret \
			    " bytes, not exactly one request: cannot attribute"
			bad++
		}
	} else if (name == "sendmsg" && args ~ /^0</ && nreq > 0 && RE_[nreq] == 0) {
		len = iovbytes(args)
		RE_[nreq] = n
		RR[nreq] = len >= 20 ? le32(16) : "-"
		if (RR[nreq] != "-" && RR[nreq] >= 2147483648)
			RR[nreq] -= 4294967296
		RANSEVP[nreq] = len >= 28 ? hex4(24) hex4(20) : ""
		RANSMSG[nreq] = len >= 24 ? hex4(20) : ""
	}
}

function issync(i) {
	return index(SYNCS, "|" EN[i] "|") > 0 && ERET[i] ~ /^0/
}

function iswrite(i) {
	return index(WRITES, "|" EN[i] "|") > 0 && ERET[i] !~ /^-1/
}

function isrename(i) {
	return index(RENAMES, "|" EN[i] "|") > 0 && ERET[i] ~ /^0/
}

# first sync of path (any path if path == "*") in (a, b), or 0
function sync_in(a, b, path,    i) {
	for (i = a + 1; i < b; i++)
		if (issync(i) && (path == "*" ? (EN[i] == "syncfs" || EN[i] == "sync") : EPATH[i] == path))
			return i
	return 0
}

function bad_(r, what) {
	print "  BAD  " TN[RT[r] + 1] " (request at line " RLN[r] "): " what
	bad++
}

function ok_(r, what) {
	print "  ok   " TN[RT[r] + 1] " " what
	checked++
}

function check_commit(r,    a, b, m, bk, R, W, S, F, i, mk, fq) {
	a = RS_[r]; b = RE_[r]; m = RMSG[r]; bk = substr(m, 1, 2)
	R = 0
	for (i = a + 1; i < b; i++)
		if (isrename(i) && EON[i] == m && ENN[i] == m && ends(EOD[i], "/incoming") && ends(END_[i], "/queue/" bk))
			R = i
	if (!R)
		return bad_(r, m ": no rename of incoming/" m " to queue/" bk "/" m)
	W = 0
	for (i = a + 1; i < R; i++)
		if ((iswrite(i) && ends(EPATH[i], "/incoming/" m "/message")) ||
		    (isrename(i) && EON[i] == "temporary/" m && ENN[i] == "message" && ends(END_[i], "/incoming/" m)))
			W = i
	if (!W)
		return bad_(r, m ": no write of incoming/" m "/message, nor rename of temporary/" m " to it")
	if (isrename(W)) {
		nrenamed++
		# the rename is relied on, and must come before the syncfs
		REQUIRED[ELN[W]] = 1
	}
	S = sync_in(W, R, "*")
	if (!S)
		return bad_(r, m ": no syncfs() between the last write of the message (line " ELN[W] ") and the rename (line " ELN[R] ")")
	for (i = S + 1; i < R; i++)
		if (iswrite(i) && index(EPATH[i], "/incoming/" m "/"))
			return bad_(r, m ": " short(EPATH[i]) " written after the syncfs (line " ELN[i] ")")
	F = sync_in(R, b, END_[R])
	if (!F)
		return bad_(r, m ": no fsync(queue/" bk ") after the rename (line " ELN[R] ")")
	mk = ""
	for (i = a + 1; i < b; i++)
		if (EN[i] == "mkdirat" && ERET[i] ~ /^0/ && ends(EPATH[i], "/queue") && ENAME[i] == bk) {
			fq = sync_in(i, b, EPATH[i])
			if (!fq)
				return bad_(r, m ": new bucket queue/" bk " (line " ELN[i] ") not made durable: no fsync(queue) after the mkdir")
			mk = " (new bucket: mkdirat@" ELN[i] " < fsync(queue)@" ELN[fq] ")"
			REQUIRED[ELN[fq]] = 1
		}
	REQUIRED[ELN[S]] = 1; REQUIRED[ELN[F]] = 1
	MOVABLE[ELN[S]] = ELN[R]
	if (isrename(W))
		MOVABLE[ELN[W]] = ELN[S]
	ncommit++
	COMMITTED[m] = 1
	ok_(r, m ": " EN[W] "@" ELN[W] " < " EN[S] "@" ELN[S] " < " EN[R] "@" ELN[R] " < fsync(" short(END_[R]) ")@" ELN[F] " < answer@" ELN[b] mk)
}

# temp file written, fsynced, renamed to dir/name, dir fsynced: returns
# 0 when there is no such rename, 1 when it is BAD, 2 when it is ok
function check_install(r, dir, name, what,    a, b, R, T, W, i, FT, FD) {
	a = RS_[r]; b = RE_[r]
	R = 0
	for (i = a + 1; i < b; i++)
		if (isrename(i) && ENN[i] == name && ends(END_[i], dir))
			R = i
	if (!R)
		return 0
	T = EOD[R] "/" EON[R]
	W = 0
	for (i = a + 1; i < R; i++)
		if (iswrite(i) && EPATH[i] == T)
			W = i
	if (!W) {
		bad_(r, what ": no write of " short(T) " before its rename")
		return 1
	}
	FT = sync_in(W, R, T)
	if (!FT) {
		bad_(r, what ": " short(T) " not fsynced between its last write (line " ELN[W] ") and its rename (line " ELN[R] ")")
		return 1
	}
	FD = sync_in(R, b, END_[R])
	if (!FD) {
		bad_(r, what ": no fsync(" short(END_[R]) ") after the rename (line " ELN[R] ")")
		return 1
	}
	REQUIRED[ELN[FT]] = 1; REQUIRED[ELN[FD]] = 1
	MOVABLE[ELN[FT]] = ELN[R]
	ok_(r, what ": write@" ELN[W] " < fsync(" short(T) ")@" ELN[FT] " < " EN[R] "@" ELN[R] " < fsync(" short(END_[R]) ")@" ELN[FD] " < answer@" ELN[b])
	return 2
}

function check_create(r,    m, e, a, b, i, k) {
	m = RMSG[r]; e = RANSEVP[r]; a = RS_[r]; b = RE_[r]
	if (substr(e, 1, 8) != m)
		return bad_(r, m ": answer evpid " e " is not of the message")
	if ((k = check_install(r, "/queue/" substr(m, 1, 2) "/" m, e, m " -> " e " (committed message)"))) {
		nqcreate += k == 2
		return
	}
	# an incoming envelope is written right after its answer, before
	# the next request is read
	b = r < nreq ? RS_[r + 1] : n + 1
	for (i = a + 1; i < b; i++)
		if (iswrite(i) && ends(EPATH[i], "/incoming/" m "/" e)) {
			print "  ok   ENVELOPE_CREATE " m " -> " e " (incoming: written@" ELN[i] " before the next request, made durable by the commit's syncfs)"
			deferred++
			return
		}
	bad_(r, m " -> " e ": envelope neither written under incoming/" m "/ nor renamed into queue/")
}

function check_update(r,    e, m, k) {
	e = REVP[r]; m = substr(e, 1, 8)
	if ((k = check_install(r, "/queue/" substr(m, 1, 2) "/" m, e, e))) {
		nupdate += k == 2
		return
	}
	bad_(r, e ": no rename into queue/" substr(m, 1, 2) "/" m "/" e)
}

function check_delete(r,    a, b, e, m, bk, U, D, F, i) {
	a = RS_[r]; b = RE_[r]; e = REVP[r]; m = substr(e, 1, 8); bk = substr(m, 1, 2)
	U = 0
	for (i = a + 1; i < b; i++)
		if (EN[i] == "unlinkat" && ERET[i] ~ /^0/ && ENAME[i] == e && ends(EPATH[i], "/queue/" bk "/" m) && !EFLAG[i])
			U = i
	if (!U)
		return bad_(r, e ": no unlink of queue/" bk "/" m "/" e)
	D = 0
	for (i = U + 1; i < b; i++)
		if (EN[i] == "unlinkat" && ERET[i] ~ /^0/ && EFLAG[i] && ENAME[i] == m && ends(EPATH[i], "/queue/" bk))
			D = i
	if (D) {
		F = sync_in(D, b, EPATH[D])
		if (!F)
			return bad_(r, e ": message directory removed (line " ELN[D] ") but no fsync(queue/" bk ") after it")
		REQUIRED[ELN[F]] = 1
		ndelete++
		return ok_(r, e ": unlinkat@" ELN[U] " < rmdir(" m ")@" ELN[D] " < fsync(queue/" bk ")@" ELN[F] " < answer@" ELN[b])
	}
	F = sync_in(U, b, EPATH[U])
	if (!F)
		return bad_(r, e ": no fsync(queue/" bk "/" m ") after the unlink (line " ELN[U] ")")
	REQUIRED[ELN[F]] = 1
	ndelete++
	ok_(r, e ": unlinkat@" ELN[U] " < fsync(queue/" bk "/" m ")@" ELN[F] " < answer@" ELN[b])
}

function count_syncs(a, b,    i, c) {
	c = 0
	for (i = a + 1; i < b; i++)
		if (index(SYNCS, "|" EN[i] "|"))
			c++
	return c
}

END {
	if (!started) {
		print "  BAD  no execve of queue-proc in the trace"
		exit 1
	}
	if (mode == "count") {
		for (r = 1; r <= nreq; r++) {
			if (!RE_[r])
				continue
			c = count_syncs(RS_[r], RE_[r])
			t = RT[r]
			if (t == 4) {
				id = RANSMSG[r]
				if (id == "")
					continue
				ACC[id] += c; ORDER[++nid] = id
			} else if (t == 5 || (t == 8 && !DONE[RMSG[r]])) {
				ACC[RMSG[r]] += c
			} else if (t == 6) {
				ACC[RMSG[r]] += c
				DONE[RMSG[r]] = 1
			} else if (t == 8) {
				OTH[RMSG[r]] += c
			} else if (t == 9) {
				DEL[substr(REVP[r], 1, 8)] += c
			} else if (t == 11) {
				OTH[substr(REVP[r], 1, 8)] += c
			}
		}
		for (i = 1; i <= nid; i++)
			print "msg " ORDER[i] " accept " ACC[ORDER[i]] + 0 " deliver " DEL[ORDER[i]] + 0 " other " OTH[ORDER[i]] + 0
		print "total " nsync + 0
		exit 0
	}
	for (r = 1; r <= nreq; r++) {
		if (!RE_[r] || RR[r] != 1)
			continue
		t = RT[r]
		if (t == 6) check_commit(r)
		else if (t == 8) check_create(r)
		else if (t == 11) check_update(r)
		else if (t == 9) check_delete(r)
	}
	for (l in REQUIRED)
		print "required " l
	for (l in MOVABLE)
		print "movable " l " " MOVABLE[l]
	printf("checker: %d durable answers checked (commit %d (by rename %d), envelope create on a committed message %d, update %d, delete %d), %d deferred envelope creates, %d BAD\n", checked, ncommit, nrenamed, nqcreate, nupdate, ndelete, deferred, bad)
	exit (bad == 0 && checked > 0) ? 0 : 1
}
