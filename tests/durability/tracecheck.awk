# Check an strace of queue-fs-proc for the durability contract, or count
# its fsync-class calls.  The trace must come from
#   strace -f -tt -y -x -s 64 -e trace=<test-ordering.sh's set> -o TRACE
# (test-ordering.sh runs tests/lib/qfp-drive so): -y puts each fd's path
# next to it, -x shows the imsg bytes of requests and answers, and the
# first 64 bytes of each log record, as \xHH.
#
#   awk -v mode=check [-v mounts=FILE] -f tracecheck.awk TRACE
#   awk -v mode=count -f tracecheck.awk TRACE
#
# FILE: the mount points of the machine the trace was made on, one a
# line (findmnt -rn -o TARGET), which tell which file system each fd's
# path is on (the longest mount point it lies under): a syncfs() syncs
# that one file system only.  Without it every path counts as one file
# system.
#
# Only the calls of the daemon's own process count for its answers: the
# pid of the execve of "queue-proc".  Its checkpointer (a child forked
# at start: syncfs(), then a DEAD record written and synced at the start
# of a full log file) runs beside it and none of its calls stands for
# the daemon's; its syncs and DEAD records are checked by the rule for
# log files marked dead, below.
# Requests are the recvmsg()s on fd 0, decoded from their bytes (type,
# msgid, evpid); each one's answer is the next sendmsg() on fd 0 (r, and
# the evpid of ENVELOPE_CREATE).  For every answer with r = 1 to a
# request that must be durable, the calls made between the request and
# its answer must satisfy one of two rule sets in full.
#
# The log (fs-proc/log.0 and log.1 in the spool; queue-fs-proc/wal.c,
# records.c).  A record is a pwrite64() to a log file, whole (it
# returned the count asked), of the right type and id (decoded from its
# head: magic "QFPL", type, then the msgid or evpid); "synced" means a
# fdatasync() (or fsync()) of that same file returned 0 after it and
# before the answer.
#
#   MESSAGE_COMMIT M	the message put in place (the last write to
#			incoming/M/message, or the rename of smtpd's
#			temporary/M to incoming/M/message) and the rename of
#			incoming/M to queue/XX/M; then by the record's kind:
#	inline		(the body is in the record) a commit record of M,
#			synced, written after the message was put in place
#			and after the last write under incoming/M/; no
#			write there after it.
#	in place	(a body over 64 KB, on a file system that journals
#			metadata in order) an fsync() (not fdatasync: it
#			must commit the rename or creation, not only the
#			data) of the message file itself, by its fd
#			(named incoming/M/message or, once moved,
#			queue/XX/M/message), after the message was put in
#			place and with no write to it after, < the commit
#			record of M < its fdatasync.  The rename into
#			queue/ may come before or after the fsync: replay
#			looks for the body in incoming/ too.
#   ENVELOPE_CREATE	on a committed message: temporary file written,
#			renamed into queue/XX/M/EVPID (no fsync needed) <
#			an envelope record of EVPID, synced.
#   ENVELOPE_UPDATE E	the temporary file written and renamed onto
#			queue/XX/M/E, and an envelope record of E, in
#			either order (the record holds the whole
#			envelope: replay writes it over whichever a
#			power failure left), the record not synced
#			before the answer but later in the trace (by the
#			next durable record or within WAL_FLUSH_MS): an
#			update lost in a power failure is an attempt made
#			again early.
#   ENVELOPE_DELETE E	unlink of queue/XX/M/E (and, when the message goes,
#			rmdir of queue/XX/M) < a deletion record of E, not
#			synced: the next synced record carries it, and if
#			a power failure comes first the mail is delivered
#			again, never lost.
#   MESSAGE_DELETE M	of a queued message: rmdir of queue/XX/M < a
#			deletion record of M, not synced (as above).
#
# The layout syncing itself (no log: no fs-proc/ in the spool; and for
# a commit with the log when the body is over 64 KB on a file system
# without an ordered journal, or its record would be too big):
#
#   MESSAGE_COMMIT M	the message put in place < syncfs() of incoming/'s
#			file system (no write under incoming/M/ after
#			it) < rename of incoming/M to queue/XX/M <
#			fsync(queue/XX) and fsync(incoming), in either
#			order (without an ordered journal the removal
#			from incoming/ is durable only by the latter:
#			after a crash the message could be in both); and
#			when queue/XX was made in that request,
#			fsync(queue) after the mkdir.  smtpd never syncs
#			temporary/M: the syncfs covers its data as it
#			covers a copy's.
#   ENVELOPE_CREATE	on a committed message, and ENVELOPE_UPDATE: last
#			write to the temporary file < fsync(temporary file)
#			< rename into queue/XX/M/EVPID < fsync(queue/XX/M).
#   ENVELOPE_DELETE E	unlink of queue/XX/M/E < fsync(queue/XX/M); or,
#			when the message directory is removed too, < rmdir
#			< fsync(queue/XX).
#   MESSAGE_DELETE M	of a queued message: rmdir < fsync(queue/XX).
#
# Either way an ENVELOPE_CREATE on a message still incoming is written
# under incoming/M/ after its answer, before the next request is read
# ("deferred": the commit makes it durable), and a MESSAGE_DELETE of an
# incoming message (a rollback) needs nothing.
#
# A log file marked dead (a whole DEAD record written to it, by the
# daemon at start and exit or by its checkpointer) no longer stands for
# the layout changes its records were written for, so these must be
# durable first: the process that writes the DEAD record must have
# called syncfs() (or sync()), after the last of those changes (made
# before the answer to the request of the file's last record; when the
# file has no record in the trace, before the DEAD record), through an
# fd on each file system that holds queue/ or incoming/ (fs-proc/ may
# be a mount of its own, the log on a fast disk: a syncfs() through its
# fd syncs the log's file system only).  fs-proc/'s own file system is
# not required: the records and the files' creation are synced already.
#
# Every sync call relied on must have returned 0.  Output: one "  ok"
# or "  BAD" line per durable answer (a BAD one says why each rule set
# failed), then "required L" (a line whose call the accepted rule
# relied on: a sync, a log record, the rename of temporary/M) and
# "movable L R" (the call at line L must come before line R: moved
# after it, the answer must be BAD), for the self-test, then a summary
# line.  Each DEAD record gets an "  ok" or "  BAD" line too (not
# counted as an answer; the summary counts them apart).  Exit 0 when
# nothing is BAD and something was checked.
#
# mode=count prints, per message, the fsync-class calls (fsync,
# fdatasync, syncfs, sync, sync_file_range, msync) the daemon's process
# made while it was accepted (MESSAGE_CREATE, its ENVELOPE_CREATEs,
# MESSAGE_COMMIT) and while it was delivered (ENVELOPE_DELETEs, and a
# MESSAGE_DELETE once queued), and for envelope creates on the committed
# message and updates: "msg ID accept A deliver D other O"; then
# "total T", the daemon's fsync-class calls over the whole trace,
# "start S", those of them made before its first request (the retire
# of the log at start), and "checkpointer C", those of every other
# process (the checkpointer).

BEGIN {
	for (i = 32; i < 127; i++)
		ORD[sprintf("%c", i)] = i
	HEX = "0123456789abcdef"
	SYNCS = "|fsync|fdatasync|syncfs|sync|sync_file_range|msync|"
	WRITES = "|write|pwrite64|writev|pwritev|pwritev2|copy_file_range|sendfile|splice|"
	RENAMES = "|rename|renameat|renameat2|"
	split("OK FAIL INIT CLOSE MESSAGE_CREATE MESSAGE_DELETE MESSAGE_COMMIT MESSAGE_FD_R ENVELOPE_CREATE ENVELOPE_DELETE ENVELOPE_LOAD ENVELOPE_UPDATE ENVELOPE_WALK", TN, " ")
	# log record types (queue-fs-proc/wal.h)
	split("DEAD COMMIT EVP_WRITE EVP_DELETE MSG_DELETE START", RTN, " ")
	WAL_MAGIC = 1280329297	# "QFPL"
	n = 0; nreq = 0; started = 0; bad = 0; checked = 0; deferred = 0
	nother = 0; nk = 0; NMNT = 0
	LAYOUT_CHANGES = "|unlink|unlinkat|rmdir|mkdir|mkdirat|link|linkat|"
	if (mounts != "") {
		while ((getline m < mounts) > 0)
			if (m != "")
				MNT[++NMNT] = m
		close(mounts)
	}
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
		s = substr(s, RSTART + RLENGTH)
		# an unlinked file is no name in the spool
		if (substr(s, 1, 9) == "(deleted)")
			m = m " (deleted)"
		FP[++k] = m
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
	return length(s) >= length(t) && substr(s, length(s) - length(t) + 1) \
	    == t
}

# The head of the log record written by pwrite64 args (its first string)
# into ERT (type, 0 if none), ERID (msgid or evpid in hex), ERINL (the
# commit's inline flag), ERBODY (the commit's body length).
function record(i, args,    len, m) {
	ERT[i] = 0
	if (qstrs(args) < 1)
		return
	len = decode(QS[1])
	if (len < 24 || le32(0) != WAL_MAGIC)
		return
	ERT[i] = le32(16)
	if (ERT[i] == 1 || ERT[i] == 6)
		ERID[i] = ""
	else if (ERT[i] == 2 && len >= 44) {
		ERID[i] = hex4(24)
		ERBODY[i] = le32(32) + 4294967296 * le32(36)
		ERINL[i] = le32(40)
	} else if ((ERT[i] == 3 || ERT[i] == 4) && len >= 32)
		ERID[i] = hex4(28) hex4(24)
	else if (ERT[i] == 5 && len >= 32)
		ERID[i] = le32(28) ? "" : hex4(24)
	else
		ERT[i] = -1
	EWHOLE[i] = whole(args, ERET[i])
}

# Did the pwrite64 of args return the count it asked for?
function whole(args, ret,    m) {
	if (!match(args, /, [0-9]+, [0-9]+$/))
		return 0
	m = substr(args, RSTART + 2, RLENGTH - 2)
	sub(/,.*/, "", m)
	return ret ~ /^[0-9]+$/ && ret + 0 == m + 0
}

# The file system path is on: the longest mount point of the table
# (-v mounts) it lies under; "/" when there is no table.
function fsof(p,    i, best) {
	sub(/ \(deleted\)$/, "", p)
	best = "/"
	for (i = 1; i <= NMNT; i++)
		if ((p == MNT[i] || index(p, MNT[i] "/") == 1) && \
		    length(MNT[i]) > length(best))
			best = MNT[i]
	return best
}

# Under queue/ or incoming/ (the layout), not the log's fs-proc/?
function inlayout(p) {
	return p ~ /\/(queue|incoming)(\/|$)/ && p !~ /\/fs-proc(\/|$)/
}

# One call the checkpoint rule looks at, of any process, into the K
# list: kind ("sync": syncfs() or sync(); "dead": a whole DEAD record
# written; "rec": any other record written; "change": a layout change
# of the daemon's; "answer": the daemon's sendmsg() on fd 0), pid, line
# (where the call began), fd path ("*" for sync(), which syncs every
# file system), success.
function kev(kind, p, l, path, ok) {
	nk++
	KK[nk] = kind; KP[nk] = p; KL[nk] = l; KF[nk] = path; KOK[nk] = ok
}

# The same of a call of another process than the daemon's (the
# checkpointer's): only its syncs and DEAD records count.
function kev_other(p, l, name, args, ret,    k) {
	k = fdpaths(args)
	if (name == "syncfs" || name == "sync")
		kev("sync", p, l, name == "sync" ? "*" : k ? FP[1] : "",
		    ret ~ /^0/)
	else if (name == "pwrite64" && k && FP[1] ~ /\/fs-proc\/log\.[01]$/ && \
	    qstrs(args) >= 1 && decode(QS[1]) >= 24 && le32(0) == WAL_MAGIC && \
	    le32(16) == 1 && whole(args, ret))
		kev("dead", p, l, FP[1], 1)
}

# The daemon's call n (parsed into EN[n] ...), into the K list.
function kev_daemon(n, args,    k, c) {
	if (EN[n] == "syncfs" || EN[n] == "sync")
		kev("sync", mainpid, ELN[n], EN[n] == "sync" ? "*" : EPATH[n],
		    issync(n))
	else if (ERT[n] == 1 && EWHOLE[n])
		kev("dead", mainpid, ELN[n], EPATH[n], 1)
	else if (ERT[n] != 0)
		kev("rec", mainpid, ELN[n], EPATH[n], 1)
	else if (EN[n] == "sendmsg" && args ~ /^0</)
		kev("answer", mainpid, ELN[n], "", 1)
	else {
		c = iswrite(n) && inlayout(EPATH[n])
		c = c || (isrename(n) && (inlayout(EOD[n]) || inlayout(END_[n])))
		if (index(LAYOUT_CHANGES, "|" EN[n] "|") && ERET[n] ~ /^0/) {
			k = fdpaths(args)
			c = c || (k && inlayout(FP[1]))
		}
		if (c)
			kev("change", mainpid, ELN[n], "", 1)
	}
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
		if (line ~ /^execve\(/ && line ~ /\["queue-proc"/) {
			started = 1
			mainpid = pid
		}
		next
	}
	p = lastidx(line, ") = ")
	if (p == 0)
		next
	name = substr(line, 1, index(line, "(") - 1)
	args = substr(line, length(name) + 2, p - length(name) - 2)
	ret = substr(line, p + 4)
	if (pid != mainpid) {
		# the checkpointer's: counted apart, never the daemon's, and
		# seen only by the checkpoint rule
		if (index(SYNCS, "|" name "|"))
			nother++
		kev_other(pid, lno, name, args, ret)
		next
	}
	n++
	EN[n] = name; ERET[n] = ret; ELN[n] = lno
	EPATH[n] = ""; ENAME[n] = ""; ERT[n] = 0
	k = fdpaths(args)
	if (index(WRITES, "|" name "|")) {
		EPATH[n] = (name == "copy_file_range" || name == "splice") ? \
		    FP[2] : FP[1]
		if (name == "pwrite64" && EPATH[n] ~ /\/fs-proc\/log\.[01]$/)
			record(n, args)
	} else if (index(SYNCS, "|" name "|")) {
		EPATH[n] = k ? FP[1] : ""
		nsync++
	} else if (index(RENAMES, "|" name "|")) {
		q = qstrs(args)
		if (name == "rename") {
			EOD[n] = ""; EON[n] = QS[1]; END_[n] = ""; ENN[n] = \
			    QS[2]
		} else {
			EOD[n] = FP[1]; EON[n] = QS[1]; END_[n] = FP[2]; \
			    ENN[n] = QS[2]
		}
	} else if (name == "unlinkat" || name == "mkdirat") {
		q = qstrs(args)
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
	kev_daemon(n, args)
}

function issync(i) {
	return index(SYNCS, "|" EN[i] "|") > 0 && ERET[i] ~ /^0/
}

# fsync() or fdatasync() that returned 0
function isfsync(i) {
	return (EN[i] == "fsync" || EN[i] == "fdatasync") && ERET[i] ~ /^0/
}

function iswrite(i) {
	return index(WRITES, "|" EN[i] "|") > 0 && ERET[i] !~ /^-1/
}

function isrename(i) {
	return index(RENAMES, "|" EN[i] "|") > 0 && ERET[i] ~ /^0/
}

# a whole log record of type t and id
function isrec(i, t, id) {
	return ERT[i] == t && ERID[i] == id && EWHOLE[i]
}

# first fsync of path in (a, b), or 0
function sync_in(a, b, path,    i) {
	for (i = a + 1; i < b; i++)
		if (isfsync(i) && EPATH[i] == path)
			return i
	return 0
}

# first syncfs() through an fd on file system fs, or sync(), in (a, b),
# or 0: a syncfs() of another file system makes nothing here durable
function syncfs_in(a, b, fs,    i) {
	for (i = a + 1; i < b; i++)
		if (issync(i) && (EN[i] == "sync" || (EN[i] == "syncfs" && \
		    fsof(EPATH[i]) == fs)))
			return i
	return 0
}

function rel(l) {		# a line the rule relied on
	PREQ = PREQ " " l
}

function mov(l, r) {		# l must come before r
	PMOV = PMOV " " l ":" r
}

# The rule that held: its lines become the self-test's.
function keep(    k, x, i, y) {
	k = split(PREQ, x, " ")
	for (i = 1; i <= k; i++)
		REQUIRED[x[i]] = 1
	k = split(PMOV, x, " ")
	for (i = 1; i <= k; i++) {
		split(x[i], y, ":")
		MOVABLE[y[1]] = y[2]
	}
}

function bad_(r, what) {
	print "  BAD  " TN[RT[r] + 1] " (request at line " RLN[r] "): " what
	bad++
}

function ok_(r, what) {
	print "  ok   " TN[RT[r] + 1] " " what
	checked++
}

# ---- the log ---------------------------------------------------------------

# A record of type t and id in (lo, b), synced there if sync is set:
# its index (RF: its sync), or 0 with LWHY set.
function logrec(a, lo, b, t, id, sync,    i, f, seen) {
	seen = 0
	for (i = a + 1; i < b; i++) {
		if (!(ERT[i] == t && ERID[i] == id))
			continue
		if (!EWHOLE[i]) {
			seen = seen ? seen : -ELN[i]
			continue
		}
		if (i < lo) {
			seen = seen > 0 ? seen : ELN[i]
			continue
		}
		if (!sync) {
			RF = 0
			return i
		}
		for (f = i + 1; f < b; f++)
			if (isfsync(f) && EPATH[f] == EPATH[i]) {
				RF = f
				return i
			}
		LWHY = "its " RTN[t] " record (line " ELN[i] \
		    ") is not followed by a successful fdatasync(" \
		    short(EPATH[i]) ") before the answer"
		return 0
	}
	if (seen < 0)
		LWHY = "its " RTN[t] " record (line " (-seen) \
		    ") was not written whole"
	else if (seen > 0)
		LWHY = "its " RTN[t] " record (line " seen \
		    ") comes before line " ELN[lo]
	else
		LWHY = "no " RTN[t] " record of " id " written to the log"
	return 0
}

# is call i the rename of smtpd's temporary/m (named from the spool or
# from temporary/) to incoming/m/message?
function from_temporary(i, m) {
	return isrename(i) && (EON[i] == "temporary/" m || (EON[i] == m && \
	    ends(EOD[i], "/temporary"))) && ENN[i] == "message" && \
	    ends(END_[i], "/incoming/" m)
}

# the message put in place: its last write or the rename of temporary/m
# to it, in (a, R), or 0
function placed(a, R, m,    i, W) {
	W = 0
	for (i = a + 1; i < R; i++)
		if ((iswrite(i) && ends(EPATH[i], "/incoming/" m "/message")) ||
		    from_temporary(i, m))
			W = i
	return W
}

# the rename of incoming/m to queue/bk/m in (a, b), or 0
function moved(a, b, m, bk,    i, R) {
	R = 0
	for (i = a + 1; i < b; i++)
		if (isrename(i) && EON[i] == m && ENN[i] == m && ends(EOD[i], \
		    "/incoming") && ends(END_[i], "/queue/" bk))
			R = i
	return R
}

# the last write in (a, b) under incoming/m/ or queue/bk/m/, or 0
function lastwrite_msg(a, b, m, bk,    i, L) {
	L = 0
	for (i = a + 1; i < b; i++)
		if (iswrite(i) && (index(EPATH[i], "/incoming/" m "/") || \
		    index(EPATH[i], "/queue/" bk "/" m "/")))
			L = i
	return L
}

function log_commit(r,    a, b, m, bk, R, W, L, lo, P, i, S, msgp, qmsgp) {
	a = RS_[r]; b = RE_[r]; m = RMSG[r]; bk = substr(m, 1, 2)
	if (!(R = moved(a, b, m, bk)))
		return "no rename of incoming/" m " to queue/" bk "/" m
	if (!(W = placed(a, R, m)))
		return "no write of incoming/" m \
		    "/message, nor rename of temporary/" m " to it"
	if (isrename(W))
		rel(ELN[W])
	P = 0
	for (i = a + 1; i < b && !P; i++)
		if (isrec(i, 2, m))
			P = i
	if (!P)
		return "no whole COMMIT record of " m " written to the log"
	if (ERINL[P]) {
		L = lastwrite_msg(a, b, m, bk)
		lo = L > W ? L : W
		if (!(P = logrec(a, lo, b, 2, m, 1)))
			return LWHY " (message in place at line " ELN[W] \
			    ", last write under it at line " ELN[lo] ")"
		rel(ELN[P]); rel(ELN[RF]); mov(ELN[RF], ELN[b])
		if (isrename(W))
			mov(ELN[W], ELN[P])
		NKIND["inline"]++
		DESC = m ": " EN[W] "@" ELN[W] " < " EN[R] "(queue/" bk ")@" \
		    ELN[R] " < COMMIT record (inline, " ERBODY[P] " bytes)@" \
		    ELN[P] " < fdatasync(" short(EPATH[RF]) ")@" ELN[RF] \
		    " < answer@" ELN[b]
		return ""
	}
	# in place: an fsync() of the message file itself (through an fd
	# opened before the move, so under either name) after it was put
	# there, before the record
	msgp = "/incoming/" m "/message"
	qmsgp = "/queue/" bk "/" m "/message"
	S = 0
	for (i = W + 1; i < b; i++)
		if (EN[i] == "fsync" && issync(i) && (ends(EPATH[i], msgp) || \
		    ends(EPATH[i], qmsgp)))
			S = i
	if (!S) {
		for (i = W + 1; i < b; i++)
			if (issync(i) && (ends(EPATH[i], msgp) || \
			    ends(EPATH[i], qmsgp)))
				return "body in place, but its " EN[i] \
				    " (line " ELN[i] ") is not an fsync(): " \
				    "only fsync() commits the rename or " \
				    "creation of incoming/" m "/message"
		return "body in place, but no fsync() of incoming/" m \
		    "/message (or queue/" bk "/" m "/message) after line " \
		    ELN[W] " and before the answer"
	}
	for (i = S + 1; i < b; i++)
		if (iswrite(i) && (ends(EPATH[i], msgp) || ends(EPATH[i], \
		    qmsgp)))
			return "incoming/" m "/message written (line " ELN[i] \
			    ") after its fsync (line " ELN[S] ")"
	if (!(P = logrec(a, S, b, 2, m, 1)))
		return LWHY " (the message's fsync is at line " ELN[S] ")"
	if (ERINL[P])
		return "COMMIT record (line " ELN[P] \
		    ") inline, yet the body is not"
	rel(ELN[S]); rel(ELN[P]); rel(ELN[RF])
	mov(ELN[S], ELN[P]); mov(ELN[RF], ELN[b])
	if (isrename(W))
		mov(ELN[W], ELN[S])
	NKIND["in place"]++
	DESC = m ": " EN[W] "@" ELN[W] " < " EN[R] "(queue/" bk ")@" ELN[R] \
	    ", fsync(message)@" ELN[S] " < COMMIT record (in place, " \
	    ERBODY[P] " bytes)@" ELN[P] " < fdatasync(" short(EPATH[RF]) \
	    ")@" ELN[RF] " < answer@" ELN[b]
	return ""
}

# the rename of a temporary file to dir/name in (a, b), or 0
function install(a, b, dir, name,    i, R) {
	R = 0
	for (i = a + 1; i < b; i++)
		if (isrename(i) && ENN[i] == name && ends(END_[i], dir))
			R = i
	return R
}

function lastwrite(a, b, path,    i, W) {
	W = 0
	for (i = a + 1; i < b; i++)
		if (iswrite(i) && EPATH[i] == path)
			W = i
	return W
}

# the last rename into dir/name between a and b (IR), the path it was
# renamed from (IT) and the last write of that path before it (IW):
# "", or why not
function written_install(a, b, dir, name) {
	if (!(IR = install(a, b, dir, name)))
		return "no rename into " short(dir) "/" name
	IT = EOD[IR] "/" EON[IR]
	if (!(IW = lastwrite(a, IR, IT)))
		return "no write of " short(IT) " before its rename"
	return ""
}

# envelope create on a committed message: installed, then logged
function log_create(r, e,    a, b, m, R, W, P, why) {
	a = RS_[r]; b = RE_[r]; m = substr(e, 1, 8)
	if ((why = written_install(a, b, "/queue/" substr(m, 1, 2) "/" m, e)))
		return why
	R = IR; W = IW
	if (!(P = logrec(a, R, b, 3, e, 1)))
		return LWHY
	rel(ELN[P]); rel(ELN[RF]); mov(ELN[RF], ELN[b])
	DESC = e ": write@" ELN[W] " < " EN[R] "@" ELN[R] \
	    " < EVP_WRITE record@" ELN[P] " < fdatasync(" short(EPATH[RF]) \
	    ")@" ELN[RF] " < answer@" ELN[b]
	return ""
}

# the first successful sync of the file of call i after it, in the whole
# trace, or 0
function synced_later(i,    f) {
	for (f = i + 1; f <= n; f++)
		if (isfsync(f) && EPATH[f] == EPATH[i])
			return f
	return 0
}

# envelope update: written and installed, and logged, in either order;
# the record synced later
function log_update(r, e,    a, b, m, R, W, P, F, why) {
	a = RS_[r]; b = RE_[r]; m = substr(e, 1, 8)
	if ((why = written_install(a, b, "/queue/" substr(m, 1, 2) "/" m, e)))
		return why
	R = IR; W = IW
	if (!(P = logrec(a, a, b, 3, e, 0)))
		return LWHY
	if (!(F = synced_later(P)))
		return "its EVP_WRITE record (line " ELN[P] ") is never synced"
	rel(ELN[P]); mov(ELN[P], ELN[b])
	DESC = e ": write@" ELN[W] " < " EN[R] "@" ELN[R] ", EVP_WRITE record@" \
	    ELN[P] " < answer@" ELN[b] " (synced later: fdatasync(" \
	    short(EPATH[F]) ")@" ELN[F] ")"
	return ""
}

# an unlink of dir/name (rmdir if dirflag) in (a, b) after lo, or 0
function unlinked(a, b, dir, name, dirflag,    i, U) {
	U = 0
	for (i = a + 1; i < b; i++)
		if (EN[i] == "unlinkat" && ERET[i] ~ /^0/ && ENAME[i] == name && ends(EPATH[i], dir) && EFLAG[i] == dirflag)
			U = i
	return U
}

function log_delete(r,    a, b, e, m, bk, U, D, P, lo) {
	a = RS_[r]; b = RE_[r]; e = REVP[r]; m = substr(e, 1, 8); bk = \
	    substr(m, 1, 2)
	if (!(U = unlinked(a, b, "/queue/" bk "/" m, e, 0)))
		return "no unlink of queue/" bk "/" m "/" e
	D = unlinked(U, b, "/queue/" bk, m, 1)
	lo = D ? D : U
	if (!(P = logrec(a, lo, b, 4, e, 0)))
		return LWHY
	rel(ELN[P]); mov(ELN[P], ELN[b])
	DESC = e ": unlinkat@" ELN[U] (D ? " < rmdir(" m ")@" ELN[D] : "") \
	    " < EVP_DELETE record@" ELN[P] " (not synced) < answer@" ELN[b]
	return ""
}

function log_mdelete(r,    a, b, m, bk, D, P) {
	a = RS_[r]; b = RE_[r]; m = RMSG[r]; bk = substr(m, 1, 2)
	if (!(D = unlinked(a, b, "/queue/" bk, m, 1)))
		return "no rmdir of queue/" bk "/" m
	if (!(P = logrec(a, D, b, 5, m, 0)))
		return LWHY
	rel(ELN[P]); mov(ELN[P], ELN[b])
	DESC = m ": rmdir(queue/" bk "/" m ")@" ELN[D] " < MSG_DELETE record@" \
	    ELN[P] " (not synced) < answer@" ELN[b]
	return ""
}

# ---- the layout syncing itself -----------------------------------------------

function old_commit(r,    a, b, m, bk, R, W, S, F, FI, i, mk, fq) {
	a = RS_[r]; b = RE_[r]; m = RMSG[r]; bk = substr(m, 1, 2)
	if (!(R = moved(a, b, m, bk)))
		return "no rename of incoming/" m " to queue/" bk "/" m
	if (!(W = placed(a, R, m)))
		return "no write of incoming/" m \
		    "/message, nor rename of temporary/" m " to it"
	# the rename is relied on, and must come before the syncfs
	if (isrename(W))
		rel(ELN[W])
	# the syncfs must cover incoming/'s file system, where the message
	# and its envelopes are
	if (!(S = syncfs_in(W, R, fsof(EOD[R]))))
		return "no syncfs() of incoming/'s file system (" \
		    fsof(EOD[R]) ") between the last write of the message " \
		    "(line " ELN[W] ") and the rename (line " ELN[R] ")"
	for (i = S + 1; i < R; i++)
		if (iswrite(i) && index(EPATH[i], "/incoming/" m "/"))
			return short(EPATH[i]) \
			    " written after the syncfs (line " ELN[i] ")"
	if (!(F = sync_in(R, b, END_[R])))
		return "no fsync(queue/" bk ") after the rename (line " ELN[R] \
		    ")"
	# the rename took the entry out of incoming/ too: without an
	# ordered journal nothing else makes that durable
	if (!(FI = sync_in(R, b, EOD[R])))
		return "no fsync(incoming) after the rename (line " ELN[R] \
		    "): without an ordered journal incoming/" m \
		    " may survive a crash beside queue/" bk "/" m
	mk = ""
	for (i = a + 1; i < b; i++)
		if (EN[i] == "mkdirat" && ERET[i] ~ /^0/ && ends(EPATH[i], "/queue") && ENAME[i] == bk) {
			if (!(fq = sync_in(i, b, EPATH[i])))
				return "new bucket queue/" bk " (line " ELN[i] \
				    ") not made durable: no fsync(queue) after the mkdir"
			mk = " (new bucket: mkdirat@" ELN[i] \
			    " < fsync(queue)@" ELN[fq] ")"
			rel(ELN[fq])
		}
	rel(ELN[S]); rel(ELN[F]); rel(ELN[FI])
	mov(ELN[S], ELN[R]); mov(ELN[F], ELN[b]); mov(ELN[FI], ELN[b])
	if (isrename(W))
		mov(ELN[W], ELN[S])
	NKIND["syncfs"]++
	DESC = m ": " EN[W] "@" ELN[W] " < " EN[S] "(" short(EPATH[S]) ")@" \
	    ELN[S] " < " EN[R] "@" ELN[R] " < fsync(" short(END_[R]) ")@" \
	    ELN[F] ", fsync(" short(EOD[R]) ")@" ELN[FI] " < answer@" ELN[b] mk
	return ""
}

# temp file written, fsynced, renamed to dir/name, dir fsynced
function old_install(r, dir, name,    a, b, R, T, W, FT, FD, why) {
	a = RS_[r]; b = RE_[r]
	if ((why = written_install(a, b, dir, name)))
		return why
	R = IR; T = IT; W = IW
	if (!(FT = sync_in(W, R, T)))
		return short(T) " not fsynced between its last write (line " \
		    ELN[W] ") and its rename (line " ELN[R] ")"
	if (!(FD = sync_in(R, b, END_[R])))
		return "no fsync(" short(END_[R]) ") after the rename (line " \
		    ELN[R] ")"
	rel(ELN[FT]); rel(ELN[FD])
	mov(ELN[FT], ELN[R])
	DESC = name ": write@" ELN[W] " < fsync(" short(T) ")@" ELN[FT] " < " \
	    EN[R] "@" ELN[R] " < fsync(" short(END_[R]) ")@" ELN[FD] \
	    " < answer@" ELN[b]
	return ""
}

function old_delete(r,    a, b, e, m, bk, U, D, F) {
	a = RS_[r]; b = RE_[r]; e = REVP[r]; m = substr(e, 1, 8); bk = \
	    substr(m, 1, 2)
	if (!(U = unlinked(a, b, "/queue/" bk "/" m, e, 0)))
		return "no unlink of queue/" bk "/" m "/" e
	if ((D = unlinked(U, b, "/queue/" bk, m, 1))) {
		if (!(F = sync_in(D, b, EPATH[D])))
			return "message directory removed (line " ELN[D] \
			    ") but no fsync(queue/" bk ") after it"
		rel(ELN[F])
		DESC = e ": unlinkat@" ELN[U] " < rmdir(" m ")@" ELN[D] \
		    " < fsync(queue/" bk ")@" ELN[F] " < answer@" ELN[b]
		return ""
	}
	if (!(F = sync_in(U, b, EPATH[U])))
		return "no fsync(queue/" bk "/" m ") after the unlink (line " \
		    ELN[U] ")"
	rel(ELN[F])
	DESC = e ": unlinkat@" ELN[U] " < fsync(queue/" bk "/" m ")@" ELN[F] \
	    " < answer@" ELN[b]
	return ""
}

function old_mdelete(r,    a, b, m, bk, D, F) {
	a = RS_[r]; b = RE_[r]; m = RMSG[r]; bk = substr(m, 1, 2)
	if (!(D = unlinked(a, b, "/queue/" bk, m, 1)))
		return "no rmdir of queue/" bk "/" m
	if (!(F = sync_in(D, b, EPATH[D])))
		return "message directory removed (line " ELN[D] \
		    ") but no fsync(queue/" bk ") after it"
	rel(ELN[F])
	DESC = m ": rmdir(queue/" bk "/" m ")@" ELN[D] " < fsync(queue/" bk \
	    ")@" ELN[F] " < answer@" ELN[b]
	return ""
}

# ---- the log's checkpoints ---------------------------------------------------

# The line of the last layout change that the DEAD record K[d] stops
# the log from standing for (0 if none): those made before the answer
# to the request that wrote the file's last record since its previous
# DEAD record (a request makes all its changes before its answer);
# when the file has no record since (the start, after the replay),
# every change before the DEAD record.  Changes made later belong to
# the other file's records.
function covered(d,    k, prev, lrec, lim, C) {
	prev = 0; lrec = 0; lim = KL[d]; C = 0
	for (k = 1; k <= nk; k++)
		if (KK[k] == "dead" && KF[k] == KF[d] && KL[k] < KL[d] && \
		    KL[k] > prev)
			prev = KL[k]
	for (k = 1; k <= nk; k++)
		if (KK[k] == "rec" && KF[k] == KF[d] && KL[k] > prev && \
		    KL[k] < KL[d] && KL[k] > lrec)
			lrec = KL[k]
	if (lrec)
		for (k = 1; k <= nk; k++)
			if (KK[k] == "answer" && KL[k] > lrec && KL[k] < lim)
				lim = KL[k]
	for (k = 1; k <= nk; k++)
		if (KK[k] == "change" && KL[k] < lim && KL[k] > C)
			C = KL[k]
	return C
}

# The last successful sync by process p in lines (lo, hi) that syncs
# file system fs (a syncfs() through an fd there, or sync()): its K
# index, or 0.
function synced_fs(p, lo, hi, fs,    k, S) {
	S = 0
	for (k = 1; k <= nk; k++)
		if (KK[k] == "sync" && KP[k] == p && KOK[k] && KL[k] > lo && \
		    KL[k] < hi && (KF[k] == "*" || fsof(KF[k]) == fs) && \
		    (!S || KL[k] > KL[S]))
			S = k
	return S
}

# A log file marked dead: every file system holding queue/ or incoming/
# synced by the marking process after the last layout change the file
# stood for (see the header).  A syncfs() through fs-proc/'s fd does
# not do when fs-proc/ is a mount of its own.
function check_dead(d,    sp, who, C, nfs, LFS, i, j, S, desc, why) {
	sp = KF[d]
	sub(/\/fs-proc\/log\.[01]$/, "", sp)
	if (KP[d] != mainpid)
		who = "the checkpointer (pid " KP[d] ")"
	else if (nreq == 0 || KL[d] < RLN[1])
		who = "the daemon's start"
	else
		who = "the daemon"
	C = covered(d)
	nfs = 0
	LFS[++nfs] = fsof(sp "/queue")
	if (fsof(sp "/incoming") != LFS[1])
		LFS[++nfs] = fsof(sp "/incoming")
	PREQ = ""; PMOV = ""
	desc = ""; why = ""
	for (i = 1; i <= nfs; i++) {
		if (!(S = synced_fs(KP[d], C, KL[d], LFS[i]))) {
			why = why "; no syncfs() of " LFS[i] " (the file " \
			    "system of " (i == 1 ? "queue/" : "incoming/") \
			    ") " (C ? "after line " C " (the last layout " \
			    "change the file stood for)" : "before it")
			for (j = 1; j <= nk; j++)
				if (KK[j] == "sync" && KP[j] == KP[d] && \
				    KL[j] > C && KL[j] < KL[d])
					why = why ", only " (KOK[j] ? "" : \
					    "a failed ") "syncfs(" short(KF[j]) \
					    ")@" KL[j] " on " fsof(KF[j])
			continue
		}
		rel(KL[S]); mov(KL[S], KL[d])
		desc = desc " < syncfs(" short(KF[S]) ")@" KL[S] " [" LFS[i] "]"
	}
	ndead++
	if (KP[d] != mainpid)
		ndeadck++
	else if (who == "the daemon's start")
		ndeadst++
	if (why != "") {
		print "  BAD  DEAD " short(KF[d]) " (line " KL[d] ") by " who \
		    ": " substr(why, 3)
		bad++
		return
	}
	keep()
	print "  ok   DEAD " short(KF[d]) " by " who ": change@" C desc \
	    " < DEAD@" KL[d]
}

# ---- one durable answer ------------------------------------------------------

# what: the answer's label; the log's rule, or else the layout's, must
# hold in full.  Returns 1 if one did.
function judge(r, what,    t, e, whylog, whyold) {
	t = RT[r]
	e = t == 8 ? RANSEVP[r] : REVP[r]
	PREQ = ""; PMOV = ""
	if (t == 6) whylog = log_commit(r)
	else if (t == 8) whylog = log_create(r, e)
	else if (t == 11) whylog = log_update(r, e)
	else if (t == 9) whylog = log_delete(r)
	else whylog = log_mdelete(r)
	if (whylog == "") {
		keep()
		nlog++
		ok_(r, what DESC " [log]")
		return 1
	}
	PREQ = ""; PMOV = ""
	if (t == 6) whyold = old_commit(r)
	else if (t == 8 || t == 11) whyold = old_install(r, "/queue/" \
	    substr(e, 1, 2) "/" substr(e, 1, 8), e)
	else if (t == 9) whyold = old_delete(r)
	else whyold = old_mdelete(r)
	if (whyold == "") {
		keep()
		nold++
		ok_(r, what DESC " [layout synced]")
		return 1
	}
	bad_(r, what "log: " whylog "; layout: " whyold)
	return 0
}

function check_commit(r,    m, i, k) {
	m = RMSG[r]
	# the rename of temporary/m, relied on: counted either way
	for (i = RS_[r] + 1; i < RE_[r]; i++)
		if (from_temporary(i, m))
			k = 1
	if (judge(r, "")) {
		ncommit++
		nrenamed += k
	}
}

function check_create(r,    m, e, a, b, i) {
	m = RMSG[r]; e = RANSEVP[r]; a = RS_[r]
	if (substr(e, 1, 8) != m)
		return bad_(r, m ": answer evpid " e " is not of the message")
	if (!install(a, RE_[r], "/queue/" substr(m, 1, 2) "/" m, e)) {
		# an incoming envelope is written right after its answer,
		# before the next request is read
		b = r < nreq ? RS_[r + 1] : n + 1
		for (i = RE_[r] + 1; i < b; i++)
			if (iswrite(i) && ends(EPATH[i], "/incoming/" m "/" \
			    e)) {
				print "  ok   ENVELOPE_CREATE " m " -> " e \
				    " (incoming: written@" ELN[i] \
				    " before the next request, made durable by the commit)"
				deferred++
				return
			}
	}
	if (judge(r, m " -> "))
		nqcreate++
}

# a MESSAGE_DELETE of an incoming message is a rollback: nothing durable
function check_mdelete(r,    m) {
	m = RMSG[r]
	if (unlinked(RS_[r], RE_[r], "/incoming", m, 1))
		return
	if (judge(r, ""))
		nmdelete++
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
			} else if (t == 5 && DONE[RMSG[r]]) {
				DEL[RMSG[r]] += c
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
			print "msg " ORDER[i] " accept " ACC[ORDER[i]] + 0 \
			    " deliver " DEL[ORDER[i]] + 0 " other " \
			    OTH[ORDER[i]] + 0
		print "total " nsync + 0
		print "start " count_syncs(0, nreq ? RS_[1] : n + 1)
		print "checkpointer " nother + 0
		exit 0
	}
	for (r = 1; r <= nreq; r++) {
		if (!RE_[r] || RR[r] != 1)
			continue
		t = RT[r]
		if (t == 6) check_commit(r)
		else if (t == 8) check_create(r)
		else if (t == 11 || t == 9) {
			if (judge(r, ""))
				if (t == 11) nupdate++; else ndelete++
		} else if (t == 5) check_mdelete(r)
	}
	for (k = 1; k <= nk; k++)
		if (KK[k] == "dead")
			check_dead(k)
	for (l in REQUIRED)
		print "required " l
	for (l in MOVABLE)
		print "movable " l " " MOVABLE[l]
	printf("checker: %d durable answers checked (commit %d (inline %d, in place %d, syncfs %d; by rename %d), envelope create on a committed message %d, update %d, delete %d, message delete %d; by the log %d, by the layout's own syncs %d), %d deferred envelope creates, %d log files marked dead (%d at start, %d by the checkpointer), %d BAD\n", checked, ncommit, NKIND["inline"], NKIND["in place"], NKIND["syncfs"], nrenamed, nqcreate, nupdate, ndelete, nmdelete, nlog, nold, deferred, ndead, ndeadst, ndeadck, bad)
	exit (bad == 0 && checked > 0) ? 0 : 1
}
