# shellcheck shell=bash
# Shared set-up for the end-to-end tests: they drive Debian's real smtpd.
#
# Source this from a bash script, then call `e2e_init NAME "$@"` first thing.
# e2e_init re-executes the script inside a private network namespace (only a
# loopback interface: nothing can leave the machine, DNS fails at once) and a
# private mount namespace, under an overall deadline, and takes a lock so
# that two e2e scripts never share smtpd's fixed spool and control socket.
#
# Environment (all optional):
#   QFP_E2E_BACKEND     -B queue=VALUE of the backend under test
#                       (default fs-proc:-d; "fs" runs smtpd's built-in queue)
#   QFP_E2E_HELPER      helper binary to test (default: the repository's
#                       build queue-fs-proc/queue-fs-proc, if present).  If it
#                       differs from /usr/libexec/opensmtpd/queue-NAME, it is
#                       bind-mounted there inside the private mount namespace
#                       only; the system is not changed.
#   QFP_E2E_PORT        SMTP port smtpd listens on, on 127.0.0.1 (2525)
#   QFP_E2E_RELAY_PORT  closed loopback port the relay domain goes to (2599);
#                       relay.test goes to 127.0.0.1, relay2.test to
#                       127.0.0.2 on that port: a sink on 127.0.0.1 brings
#                       up the first only, and smtpd's routes, one per
#                       address, do not disable each other
#   QFP_E2E_TIMEOUT     overall deadline of one script in seconds (170)
#   QFP_E2E_USER        unprivileged user that owns the maildir (qfpmail)
#   QFP_E2E_KEEP=1      keep the work directory (configs, logs, maildir)
#   QFP_E2E_DIALECT     A or B: each stop of smtpd also checks that the
#                       helper's log (-v: fs-proc:-d -v) names that imsg
#                       dialect for its peer, and no other
#
# The smtpd under test (defaults: Debian's package; tests/upstream points
# them at a private build of another release):
#   QFP_E2E_SMTPD       smtpd binary (smtpd from PATH)
#   QFP_E2E_SMTPCTL     its smtpctl (smtpctl from PATH)
#   QFP_E2E_SPOOL       its PATH_SPOOL (/var/spool/smtpd)
#   QFP_E2E_SOCKET      its control socket (/var/run/smtpd.sock)
#   QFP_E2E_LIBEXEC     its PATH_LIBEXEC, where queue-NAME is looked up
#                       (/usr/libexec/opensmtpd)
#
# Report contract: one line "PASS: <name>" or "FAIL: <name>: <why>" per check
# (counted by tests/run-suite.sh); other output lines start with "#" or "  |".

E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
E2E_REPO=$(cd "$E2E_DIR/../.." && pwd)

: "${QFP_E2E_BACKEND:=fs-proc:-d}"
: "${QFP_E2E_HELPER:=}"
: "${QFP_E2E_PORT:=2525}"
: "${QFP_E2E_RELAY_PORT:=2599}"
: "${QFP_E2E_TIMEOUT:=170}"
: "${QFP_E2E_USER:=qfpmail}"
: "${QFP_E2E_KEEP:=0}"
: "${QFP_E2E_DIALECT:=}"

e2e_smtpd_paths() {	# the smtpd under test; again if QFP_E2E_* change
	SMTPD=${QFP_E2E_SMTPD:-smtpd}
	SMTPCTL=${QFP_E2E_SMTPCTL:-smtpctl}
	SPOOL=${QFP_E2E_SPOOL:-/var/spool/smtpd}
	CTL_SOCK=${QFP_E2E_SOCKET:-/var/run/smtpd.sock}
	LIBEXEC=${QFP_E2E_LIBEXEC:-/usr/libexec/opensmtpd}
}
e2e_smtpd_paths
LOCKFILE=/run/lock/qfp-e2e.lock
if [ -x /usr/bin/python3 ]; then PYTHON=/usr/bin/python3; else PYTHON=python3; fi

E2E_NAME=e2e
TAG=
WORK=
CONF=
MAILDIR=
SMTPD_PID=
SMTPD_RUN=0
SMTPD_LOG=
SMTPD_BACKEND=
SMTPD_KIDS=
SINK_PID=
SINK_DIR=
SINK_LOG=

# ---- reporting ---------------------------------------------------------

# pass, fail, check, note: tests/lib/report.sh, every name after "NAME/"
. "$(dirname "${BASH_SOURCE[0]}")/../lib/report.sh"

indent() {	# indent < text: quote a block so it is never read as a result
	sed 's/^/  | /'
}

log_tail() {	# log_tail [N]: the last N lines of the current smtpd log
	local n=${1:-40} f=${SMTPD_LOG:-}
	[ -n "$f" ] && [ -f "$f" ] || return 0
	echo "# last $n lines of $f:"
	tail -n "$n" "$f" | indent
}

e2e_finish() {	# print the summary and exit 0 iff no check failed
	stop_sink
	[ -n "$SMTPD_PID" ] && stop_smtpd
	report_end "$E2E_NAME (backend $QFP_E2E_BACKEND)"
}

# ---- bounded waiting ---------------------------------------------------

wait_until() {	# wait_until SECONDS command...: poll every 0.2 s
	local secs=$1
	shift
	local end=$((SECONDS + secs))
	while :; do
		"$@" && return 0
		[ "$SECONDS" -ge "$end" ] && return 1
		sleep 0.2
	done
}

port_open() {	# port_open PORT: something accepts on 127.0.0.1:PORT
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

port_closed() {
	! port_open "$1"
}

# ---- set-up ------------------------------------------------------------

e2e_init() {	# e2e_init NAME "$@"
	E2E_NAME=$1
	REPORT_PREFIX=$1/
	shift
	if [ "$(id -u)" != 0 ]; then
		fail setup "must run as root (smtpd needs it)"
		exit 1
	fi
	if [ "${QFP_E2E_NETNS:-}" != 1 ]; then
		local script rc
		script=$(readlink -f "$0")
		for t in unshare ip "$SMTPD" "$SMTPCTL" swaks timeout flock; do
			if ! command -v "$t" >/dev/null 2>&1; then
				fail setup "$t not found (sh tests/deps.sh installs it)"
				exit 1
			fi
		done
		timeout -k 20 "$QFP_E2E_TIMEOUT" \
		    unshare -n -m -- env QFP_E2E_NETNS=1 bash "$script" "$@"
		rc=$?
		case $rc in
		124|137)
			fail deadline "did not finish within ${QFP_E2E_TIMEOUT}s (timeout rc $rc)"
			rc=1 ;;
		esac
		exit $rc
	fi

	# From here on: inside the private namespaces.
	trap 'e2e_exit_trap' EXIT
	trap 'note "terminated"; exit 143' TERM INT HUP

	if ! ip link set lo up; then
		fail setup "cannot bring up lo in the private network namespace"
		exit 1
	fi
	local links
	links=$(ip -o link show | wc -l)
	if [ "$links" != 1 ]; then
		fail setup "network namespace has $links interfaces, expected only lo; refusing to run"
		exit 1
	fi
	mount --make-rprivate / 2>/dev/null || true

	mkdir -p "$(dirname "$LOCKFILE")"
	exec 9>"$LOCKFILE"
	if ! flock -w 60 9; then
		fail setup "another e2e test holds $LOCKFILE"
		exit 1
	fi
	if [ -S "$CTL_SOCK" ] && "$SMTPCTL" show status >/dev/null 2>&1; then
		fail setup "an smtpd outside this test answers on $CTL_SOCK; refusing to touch its spool"
		exit 1
	fi

	WORK=$(mktemp -d /tmp/qfp-e2e.XXXXXX) || { fail setup "mktemp"; exit 1; }
	chmod 0755 "$WORK"
	ensure_user || exit 1
	MAILDIR=$WORK/Maildir
	mkdir -p "$MAILDIR"
	chown "$QFP_E2E_USER:" "$MAILDIR"
	chmod 0700 "$MAILDIR"
	write_conf || exit 1
	setup_helper || exit 1
	clean_spool
	# what send_batch puts in Message-Ids: this run's, not another's
	TAG=$$-$RANDOM
	note "backend under test: -B queue=$QFP_E2E_BACKEND; work dir $WORK"
}

e2e_exit_trap() {
	local rc=$?
	trap - EXIT
	stop_sink
	if [ -n "$SMTPD_PID" ]; then
		note "smtpd still running at exit: stopping it"
		stop_smtpd quiet
	fi
	clean_spool
	if [ -n "$WORK" ] && [ -d "$WORK" ]; then
		if [ "$QFP_E2E_KEEP" = 1 ]; then
			note "work directory kept: $WORK"
		else
			umount "$LIBEXEC" 2>/dev/null
			rm -rf "$WORK"
		fi
	fi
	exit "$rc"
}

ensure_user() {	# the unprivileged owner of the maildir, with a real home
	local home=/var/lib/$QFP_E2E_USER
	if ! id "$QFP_E2E_USER" >/dev/null 2>&1; then
		if ! useradd --system --home-dir "$home" \
		    --shell /usr/sbin/nologin "$QFP_E2E_USER"; then
			fail setup "cannot create user $QFP_E2E_USER"
			return 1
		fi
		note "created user $QFP_E2E_USER"
	fi
	# smtpd looks for ~/.forward: a missing home only makes log noise.
	home=$(getent passwd "$QFP_E2E_USER" | cut -d: -f6)
	if [ -n "$home" ] && [ ! -d "$home" ] && [ "$home" != /nonexistent ]; then
		mkdir -p "$home" && chown "$QFP_E2E_USER:" "$home"
	fi
}

clean_spool() {	# (test-copied.sh mounts a tmpfs on temporary/)
	umount "$SPOOL/temporary" 2>/dev/null
	rm -rf "$SPOOL"
}

write_conf() {
	CONF=$WORK/smtpd.conf
	cat >"$WORK/vusers" <<-EOF
	a@test.local	$QFP_E2E_USER
	b@test.local	$QFP_E2E_USER
	c@test.local	$QFP_E2E_USER
	EOF
	cat >"$CONF" <<-EOF
	# generated by tests/e2e/lib.sh
	table vusers file:$WORK/vusers
	listen on 127.0.0.1 port $QFP_E2E_PORT
	action "local" maildir "$MAILDIR" virtual <vusers>
	action "relay" relay host smtp://127.0.0.1:$QFP_E2E_RELAY_PORT
	action "relay2" relay host smtp://127.0.0.2:$QFP_E2E_RELAY_PORT
	match from any for domain "test.local" action "local"
	match from any for domain "relay.test" action "relay"
	match from any for domain "relay2.test" action "relay2"
	${QFP_E2E_CONF_EXTRA:-}
	EOF
	if ! "$SMTPD" -n -f "$CONF" >"$WORK/conftest.log" 2>&1; then
		fail setup "smtpd -n rejects the generated configuration"
		indent <"$WORK/conftest.log"
		return 1
	fi
}

backend_is_builtin() {	# backend_is_builtin VALUE
	case ${1%%:*} in
	fs|ram|null) return 0 ;;
	esac
	return 1
}

# install_helper NAME FILE: FILE as $LIBEXEC/queue-NAME for this test
# only: installed in a copy of $LIBEXEC ($WORK/libexec) bind-mounted over
# it in the test's private mount namespace, the copy made at the first
# call
install_helper() {
	if ! [ -d "$WORK/libexec" ] || ! mountpoint -q "$LIBEXEC"; then
		mkdir -p "$WORK/libexec" && cp -a "$LIBEXEC/." "$WORK/libexec/" &&
		    mount --bind "$WORK/libexec" "$LIBEXEC" || return 1
	fi
	install -m 0755 "$2" "$LIBEXEC/queue-$1"
}

# Make sure smtpd will find the helper of the backend under test; with a
# repository build that differs from the installed one, install_helper.
setup_helper() {
	local name=${QFP_E2E_BACKEND%%:*}
	backend_is_builtin "$QFP_E2E_BACKEND" && return 0
	local installed=$LIBEXEC/queue-$name helper=$QFP_E2E_HELPER
	if [ -z "$helper" ] && [ "$name" = fs-proc ] &&
	    [ -x "$E2E_REPO/queue-fs-proc/queue-fs-proc" ]; then
		helper=$E2E_REPO/queue-fs-proc/queue-fs-proc
	fi
	if [ -n "$helper" ] && ! cmp -s "$helper" "$installed"; then
		if ! install_helper "$name" "$helper"; then
			fail setup "cannot bind-mount $helper over $installed"
			return 1
		fi
		note "helper: $helper (bind-mounted as $installed for this test only)"
	elif [ -n "$helper" ]; then
		note "helper: $installed (same as $helper)"
	fi
	if [ ! -x "$installed" ]; then
		fail setup "no helper: $installed missing and no build at $E2E_REPO/queue-fs-proc/queue-fs-proc (run make)"
		return 1
	fi
}

# ---- processes ---------------------------------------------------------

descendants() {	# descendants PID: every live descendant of PID, one per line
	ps -e -o pid=,ppid= 2>/dev/null | awk -v root="$1" '
		{ parent[$1] = $2 }
		END {
			for (p in parent) {
				q = parent[p]; n = 0
				while (q != "" && q != 0 && q != root && n++ < 64)
					q = parent[q]
				if (q == root) print p
			}
		}'
}

proc_alive() {	# proc_alive PID: exists and is not a zombie
	local st
	[ -r "/proc/$1/stat" ] || return 1
	st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
	[ -n "$st" ] && [ "$st" != Z ]
}

proc_dead() {
	! proc_alive "$1"
}

pid_args() {
	tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null
}

# the queue helper among smtpd's descendants ("queue-proc ARG"); its
# log checkpointer, forked from it, is its child ("queue-proc: log
# checkpointer" in ps): skip it
helper_pid() {
	local p pp
	for p in $(descendants "$SMTPD_PID"); do
		pp=$(ps -o ppid= -p "$p" 2>/dev/null | tr -d ' ')
		case $(pid_args "$pp") in queue-proc*) continue ;; esac
		case $(pid_args "$p") in
		queue-proc*) echo "$p"; return 0 ;;
		esac
	done
	return 1
}

ctl_closed() {	# nothing answers on smtpd's control socket
	! "$SMTPCTL" show status >/dev/null 2>&1
}

smtpd_ready() {
	port_open "$QFP_E2E_PORT" && "$SMTPCTL" show status >/dev/null 2>&1
}

# start_smtpd BACKEND [CHECK [SMTPD-ARGS...]]: smtpd -d with -B queue=BACKEND
# (and SMTPD-ARGS, e.g. -P mta), in the background, logging to
# $WORK/smtpd-N.log; waits (bounded) until it listens and answers on the
# control socket.  Reports CHECK (default "start").
start_smtpd() {
	local backend=$1 what=${2:-start}
	shift 2 2>/dev/null || shift $#
	SMTPD_RUN=$((SMTPD_RUN + 1))
	SMTPD_LOG=$WORK/smtpd-$SMTPD_RUN.log
	SMTPD_BACKEND=$backend
	if port_open "$QFP_E2E_PORT"; then
		fail "$what" "port 127.0.0.1:$QFP_E2E_PORT already in use"
		return 1
	fi
	"$SMTPD" -d -f "$CONF" -B "queue=$backend" "$@" >"$SMTPD_LOG" 2>&1 </dev/null &
	SMTPD_PID=$!
	local end=$((SECONDS + 20))
	while ! smtpd_ready; do
		if proc_dead "$SMTPD_PID"; then
			wait "$SMTPD_PID" 2>/dev/null
			fail "$what" "smtpd -B queue=$backend exited during start-up (rc $?)"
			SMTPD_PID=
			log_tail 30
			return 1
		fi
		if [ "$SECONDS" -ge "$end" ]; then
			fail "$what" "smtpd -B queue=$backend not ready within 20s"
			log_tail 30
			stop_smtpd quiet
			return 1
		fi
		sleep 0.2
	done
	SMTPD_KIDS=$(descendants "$SMTPD_PID" | tr '\n' ' ')
	if backend_is_builtin "$backend"; then
		pass "$what"
	else
		local hp
		if hp=$(helper_pid); then
			pass "$what"
			note "smtpd pid $SMTPD_PID, helper pid $hp: $(pid_args "$hp")"
		else
			fail "$what" "smtpd runs but no 'queue-proc' helper process among its children"
			log_tail 30
			return 1
		fi
	fi
	return 0
}

# stop_smtpd [quiet]: SIGTERM the recorded pid, bounded wait, SIGKILL as a
# last resort; then every process it had started must be gone too.  Unless
# quiet, reports "<run>/stop" and "<run>/log-clean" checks.
stop_smtpd() {
	local quiet=${1:-} pid=$SMTPD_PID tag="run$SMTPD_RUN-${SMTPD_BACKEND%%:*}"
	[ -n "$pid" ] || return 0
	local ok=1 why="" kids p
	kids="$SMTPD_KIDS $(descendants "$pid" | tr '\n' ' ')"
	if proc_dead "$pid"; then
		ok=0; why="smtpd had exited by itself before being stopped"
	else
		kill -TERM "$pid" 2>/dev/null
		if ! wait_until 15 proc_dead "$pid"; then
			ok=0; why="smtpd pid $pid still alive 15s after SIGTERM; killed"
			kill -KILL "$pid" 2>/dev/null
			wait_until 5 proc_dead "$pid"
		fi
	fi
	wait "$pid" 2>/dev/null
	SMTPD_PID=
	local left=""
	for p in $kids; do
		if ! wait_until 10 proc_dead "$p"; then
			left="$left $p($(pid_args "$p"))"
			kill -KILL "$p" 2>/dev/null
		fi
	done
	if [ -n "$left" ]; then
		ok=0; why="${why:+$why; }processes survived smtpd:$left"
	fi
	# Wait until the control socket is closed, so the next start is clean.
	wait_until 5 ctl_closed
	[ "$quiet" = quiet ] && return 0
	if ! backend_is_builtin "$SMTPD_BACKEND"; then
		grep -E '^stats: ' "$SMTPD_LOG" | sed 's/^/# /'
		[ -n "$QFP_E2E_DIALECT" ] && check_dialect "$tag/dialect-$QFP_E2E_DIALECT"
	fi
	if [ $ok = 1 ]; then
		pass "$tag/stop"
	else
		fail "$tag/stop" "$why"
		log_tail 30
	fi
	local bad
	bad=$(grep -E -i 'fatal|lost child|abnormally|terminated; signal|queue-proc.*(error|fail)' "$SMTPD_LOG" | head -5)
	if [ -z "$bad" ]; then
		pass "$tag/log-clean"
	else
		fail "$tag/log-clean" "smtpd log has error lines: $(echo "$bad" | head -1)"
		log_tail 40
	fi
}

# check_dialect CHECK: the helper logged which imsg dialect its peer
# speaks (guessed from smtpd's version at start, seen on a commit), and
# every such line names $QFP_E2E_DIALECT.
check_dialect() {
	local lines other
	lines=$(grep -E 'queue-fs-proc: peer (is OpenSMTPD .*, imsg dialect|speaks imsg dialect) ' "$SMTPD_LOG")
	other=$(echo "$lines" | grep -v -E "imsg dialect $QFP_E2E_DIALECT( |\$)")
	if [ -z "$lines" ]; then
		fail "$1" "the helper logged no imsg dialect (is -v in its options?)"
	elif [ -n "$other" ]; then
		fail "$1" "the helper logged: $(echo "$other" | head -1)"
	else
		pass "$1"
		echo "$lines" | sed 's/^/# /'
	fi
}

# ---- queue -------------------------------------------------------------

queue_list() {	# smtpctl show queue; fails if smtpctl does
	"$SMTPCTL" show queue 2>"$WORK/smtpctl.err"
}

queue_evpids() {	# sorted evpids listed by smtpctl show queue
	local out
	out=$(queue_list) || return 1
	[ -n "$out" ] || return 0
	echo "$out" | cut -d'|' -f1 | sort
}

queue_count() {
	local l
	l=$(queue_evpids) || { echo -1; return 1; }
	if [ -z "$l" ]; then echo 0; else echo "$l" | wc -l; fi
}

queue_empty() {
	local out
	out=$(queue_list) || return 1
	[ -z "$out" ]
}

queue_has() {	# queue_has N: at least N envelopes listed
	[ "$(queue_count)" -ge "$1" ]
}

spool_messages() {	# message directories in the fs-layout spool
	find "$SPOOL/queue" -mindepth 2 -maxdepth 2 -type d 2>/dev/null | sort
}

expect_spool_clean() {	# no message directory left in queue/
	local left
	left=$(spool_messages)
	check spool-clean "message directories left in $SPOOL/queue: $(echo "$left" | tr '\n' ' ' | head -c 200)" \
	    [ -z "$left" ]
}

# ---- mail --------------------------------------------------------------

# send_mail TO-LIST MESSAGE-ID SUBJECT: one message over SMTP with swaks.
send_mail() {
	local to=$1 mid=$2 subj=$3 out
	out=$(swaks --server "127.0.0.1:$QFP_E2E_PORT" --timeout 20 \
	    --from sender@sender.test --to "$to" \
	    --header "Message-Id: <$mid>" --header "Subject: $subj" \
	    --add-header "X-QFP-E2E: $mid" \
	    --body "e2e test message $mid" 2>&1)
	local rc=$?
	if [ $rc != 0 ]; then
		echo "# swaks to $to ($mid) exited $rc:"
		echo "$out" | tail -8 | indent
	fi
	return $rc
}

# send_batch CHECK N TO-LIST WHAT: N messages, Message-Id
# qfp-$TAG-I@e2e.test for I in 1..N, subject "WHAT $TAG message I";
# reports CHECK: smtpd accepted all N.
send_batch() {
	local name=$1 n=$2 to=$3 what=$4 i sent=0
	for i in $(seq 1 "$n"); do
		send_mail "$to" "qfp-$TAG-$i@e2e.test" "$what $TAG message $i" &&
		    sent=$((sent + 1))
	done
	check "$name" "smtpd accepted $sent of $n messages" [ "$sent" = "$n" ]
}

header_of() {	# header_of FILE NAME: value of the first header NAME
	awk -v h="$2" 'BEGIN { h = tolower(h) ":" }
		/^\r?$/ { exit }
		tolower(substr($0, 1, length(h))) == h {
			v = substr($0, length(h) + 1); sub(/^[ \t]+/, "", v);
			sub(/\r$/, "", v); print v; exit }' "$1"
}

# ---- SMTP sink ---------------------------------------------------------

start_sink() {	# start_sink PORT DIR LIFETIME
	SINK_DIR=$2
	SINK_LOG=$WORK/sink.log
	mkdir -p "$SINK_DIR"
	"$PYTHON" "$E2E_DIR/smtp-sink.py" --port "$1" --dir "$SINK_DIR" \
	    --lifetime "$3" >"$SINK_LOG" 2>&1 </dev/null &
	SINK_PID=$!
	if ! wait_until 10 port_open "$1"; then
		echo "# sink did not start:"
		indent <"$SINK_LOG"
		stop_sink
		return 1
	fi
}

# stop_child PID: SIGTERM a child of this shell, SIGKILL after 5 s, reap it
stop_child() {
	kill -TERM "$1" 2>/dev/null
	wait_until 5 proc_dead "$1" || kill -KILL "$1" 2>/dev/null
	wait "$1" 2>/dev/null
}

stop_sink() {
	[ -n "$SINK_PID" ] || return 0
	stop_child "$SINK_PID"
	SINK_PID=
}

# Resume every route smtpd disabled after failed connections, so that a
# "schedule all" is not held back by a route penalty.
resume_routes() {
	local id
	for id in $("$SMTPCTL" show routes 2>/dev/null | awk '{ sub(/\.$/, "", $1); print $1 }' | grep -E '^[0-9]+$'); do
		"$SMTPCTL" resume route "$id" >/dev/null 2>&1
	done
}

# Kick the queue along, at most every 3 s: resume the routes smtpd
# disabled and schedule every envelope now, so that a retry does not
# wait for its back-off.
KICK_NEXT=0
kick() {
	[ "$SECONDS" -ge "$KICK_NEXT" ] || return 0
	resume_routes
	"$SMTPCTL" schedule all >/dev/null 2>&1
	KICK_NEXT=$((SECONDS + 3))
}

flushed() {	# the queue is empty (kicked along)
	kick
	queue_empty
}

# expect_flushed CHECK SECS: the queue empties within SECS seconds
expect_flushed() {
	if wait_until "$2" flushed; then
		pass "$1"
		return 0
	fi
	fail "$1" "after $2s $(queue_count) envelopes still queued, $(sink_count) transactions at the sink"
	queue_list | head -5 | indent
	log_tail 20
	return 1
}

# ---- queued envelopes --------------------------------------------------

# wait_queued CHECK N: smtpctl show queue lists N envelopes (bounded
# wait: the queue is loaded asynchronously); their evpids, sorted, go to
# $WORK/evpids.ref for expect_queue.  Reports CHECK.
wait_queued() {
	local name=$1 want=$2 n
	if ! wait_until 20 queue_has "$want"; then
		fail "$name" "after 20s smtpctl show queue lists $(queue_count) envelopes, expected $want"
		log_tail 30
		return 1
	fi
	sleep 1	# let a walk that would list too much finish
	queue_evpids >"$WORK/evpids.ref"
	n=$(wc -l <"$WORK/evpids.ref")
	check "$name" "smtpctl show queue lists $n envelopes, expected $want" [ "$n" = "$want" ]
}

# expect_queue CHECK [REF]: smtpctl show queue lists exactly the evpids
# of REF ($WORK/evpids.ref), no fewer, no more.
expect_queue() {
	local name=$1 ref=${2:-$WORK/evpids.ref} cur want
	want=$(wc -l <"$ref")
	if ! wait_until 20 queue_has "$want"; then
		fail "$name" "after 20s smtpctl show queue lists $(queue_count) envelopes, expected $want"
		queue_list | head -5 | indent
		log_tail 20
		return 1
	fi
	sleep 1	# let a walk that would list too much finish
	cur=$WORK/evpids.$SMTPD_RUN
	queue_evpids >"$cur"
	check "$name" "envelope set differs: $(wc -l <"$cur") listed; missing: $(comm -23 "$ref" "$cur" | head -3 | tr '\n' ' ')extra: $(comm -13 "$ref" "$cur" | head -3 | tr '\n' ' ')" \
	    cmp -s "$cur" "$ref"
}

# envelope_sums: "SHA256 queue/XX/MSGID/EVPID" of every envelope file in
# the spool, sorted: what the queue holds, to the byte
envelope_sums() {
	(cd "$SPOOL" 2>/dev/null &&
	    find queue -mindepth 3 -maxdepth 3 -type f ! -name message \
	    -exec sha256sum {} + 2>/dev/null) | sort
}

# ---- crashes, and the helper run by hand -------------------------------

# crash_helper CHECK: SIGKILL to the helper of the running smtpd, as in
# a crash.  smtpd cannot run without its queue and must exit by itself;
# every process it had started must be gone soon after (the helper's log
# checkpointer too: it shares the helper's lock on the spool).  Reports
# CHECK.
crash_helper() {
	local name=$1 hp p left=""
	if ! hp=$(helper_pid); then
		fail "$name" "no queue-proc helper among smtpd's descendants"
		stop_smtpd quiet
		return 1
	fi
	note "SIGKILL to helper $hp ($(pid_args "$hp"))"
	kill -KILL "$hp"
	# smtpd's queue process sees the helper gone at its next request
	# only: an idle smtpd is made to ask (a listing loads envelopes, a
	# mail creates a message; neither can be answered)
	if ! wait_until 3 proc_dead "$SMTPD_PID"; then
		"$SMTPCTL" show queue >/dev/null 2>&1
		send_mail poke@relay.test "poke-$$@e2e.test" poke >/dev/null &
	fi
	if ! wait_until 30 proc_dead "$SMTPD_PID"; then
		fail "$name" "smtpd $SMTPD_PID still up 30 s after its helper died"
		stop_smtpd quiet
		return 1
	fi
	wait "$SMTPD_PID" 2>/dev/null
	SMTPD_PID=
	for p in $SMTPD_KIDS; do
		if ! wait_until 10 proc_dead "$p"; then
			left="$left $p($(pid_args "$p"))"
			kill -KILL "$p" 2>/dev/null
		fi
	done
	wait_until 10 port_closed "$QFP_E2E_PORT"
	wait_until 5 ctl_closed
	check "$name" "processes outlived smtpd:$left" [ -z "$left" ]
}

# lose_message CHECK: the first message of $WORK/evpids.ref loses its
# directory in queue/, as a power failure can do to it: the log made the
# commit durable, the layout is synced later (DURABILITY in
# queue-fs-proc(8)), so only a replay of the log brings it back.
# Reports CHECK: it is gone.
lose_message() {
	local m d
	m=$(head -1 "$WORK/evpids.ref" | cut -c1-8)
	d=$(find "$SPOOL/queue" -mindepth 2 -maxdepth 2 -name "$m" | head -1)
	[ -n "$d" ] && rm -rf "$d"
	if [ -n "$m" ] && [ -z "$(spool_messages | grep "/$m\$")" ]; then
		pass "$1"
	else
		fail "$1" "message ${m:-none} still in queue/"
	fi
}

# helper_cmd OUT ARG...: the helper under test run by hand on the spool,
# as an administrator would; its output in OUT, its exit status returned
helper_cmd() {
	local out=$1
	shift
	"$LIBEXEC/queue-${QFP_E2E_BACKEND%%:*}" "$@" -s "$SPOOL" >"$out" 2>&1
}

# dropin_command: the ExecStartPre command of the systemd drop-in that
# make install and the package put in opensmtpd.service.d/, pointed at
# the smtpd under test's libexec directory and spool
dropin_command() {
	local cmd
	cmd=$(sed -n 's/^ExecStartPre=//p' "$E2E_REPO/systemd/queue-fs-proc.conf")
	cmd=${cmd/\/usr\/libexec\/opensmtpd\//$LIBEXEC/}
	[ "$SPOOL" = /var/spool/smtpd ] || cmd="$cmd -s $SPOOL"
	echo "$cmd"
}

need_helper() {	# the recovery tests are about the helper's log
	backend_is_builtin "$QFP_E2E_BACKEND" || return 0
	fail setup "backend $QFP_E2E_BACKEND is built in: this test needs the helper"
	return 1
}

# ---- what reached the sink ---------------------------------------------

sink_count() {	# SMTP transactions at the sink
	find "$SINK_DIR" -maxdepth 1 -name '*.eml' 2>/dev/null | wc -l
}

# sink_pairs: "MESSAGE-ID <RCPT>" for each recipient of each transaction
# at the sink (MESSAGE-ID from the X-QFP-E2E header send_mail adds)
sink_pairs() {
	local f mid
	for f in "$SINK_DIR"/*.eml; do
		[ -e "$f" ] || continue
		mid=$(header_of "$f" X-QFP-E2E)
		grep -a '^X-Sink-Rcpt-To:' "$f" | tr -d '\r' | while read -r _ r; do
			echo "${mid:-?} $r"
		done
	done | sort
}

# batch_pairs N RCPT...: the pairs of send_batch's N messages ($TAG)
batch_pairs() {
	local n=$1 i r
	shift
	for i in $(seq 1 "$n"); do
		for r in "$@"; do
			echo "qfp-$TAG-$i@e2e.test <$r>"
		done
	done
}

# expect_pairs PREFIX EXPECTED [MAYBE]: every pair of the file EXPECTED
# reached the sink exactly once, and nothing else did but pairs of the
# file MAYBE (mail cut by a crash: committed or not), at most once.
# Reports PREFIX/no-duplicates, PREFIX/all-recipients, PREFIX/nothing-else.
expect_pairs() {
	local p=$1 want=$WORK/want.pairs got=$WORK/got.pairs dups missing extra
	sort -u "$2" >"$want"
	sink_pairs >"$got"
	dups=$(uniq -d "$got")
	check "$p/no-duplicates" "delivered more than once: $(echo "$dups" | tr '\n' ' ' | head -c 300)" \
	    [ -z "$dups" ]
	missing=$(comm -23 "$want" <(sort -u "$got"))
	check "$p/all-recipients" "$(echo "$missing" | grep -c .) (message, recipient) pairs missing, e.g. $(echo "$missing" | head -3 | tr '\n' ';')" \
	    [ -z "$missing" ]
	extra=$(comm -13 "$want" <(sort -u "$got") |
	    comm -23 - <(sort -u "${3:-/dev/null}"))
	check "$p/nothing-else" "unexpected at the sink: $(echo "$extra" | head -3 | tr '\n' ';')" \
	    [ -z "$extra" ]
}

# relay_up CHECK LIFETIME: relay.test's relay comes up (the sink, on
# 127.0.0.1:$QFP_E2E_RELAY_PORT, for at most LIFETIME seconds)
relay_up() {
	start_sink "$QFP_E2E_RELAY_PORT" "$WORK/sink" "$2" && return 0
	fail "$1" "could not start the SMTP sink on 127.0.0.1:$QFP_E2E_RELAY_PORT"
	return 1
}

sink_grew() {	# sink_grew N: more than N transactions at the sink (kicked)
	kick
	[ "$(sink_count)" -gt "$1" ]
}

# expect_quiet_sink CHECK SECS: SECS seconds of kicking the queue bring
# nothing more to the sink (mail that came back would go again)
expect_quiet_sink() {
	local before
	before=$(sink_count)
	if wait_until "$2" sink_grew "$before"; then
		fail "$1" "$(($(sink_count) - before)) more transactions at the sink"
	else
		pass "$1"
	fi
}
