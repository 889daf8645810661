#!/bin/bash
# Power cuts under Debian's real smtpd; the method is in README here.
#
# For the helper under test and each control: record a run (the spool
# on a fresh ext4 on a loop device on blkfuse's recorded disk, mail
# sent while the relay is down), then for each chosen flush k cut a
# crash image, e2fsck it, start smtpd on it, stop it, and look for
# every mail acknowledged before flush k in queue/.
#
# Then, on some of the helper's states, the switch back to smtpd's
# built-in queue through the systemd drop-in's command and to the helper
# again, and its control without that command.
#
# Environment: QFP_PC_SEED (default: random, printed), QFP_PC_MAILS
# (30), QFP_PC_STATES (states of the helper, 48), QFP_PC_CONTROL_STATES
# (per control, 12), QFP_PC_SWITCH_STATES (of the switch and its
# control, 10).
: "${QFP_E2E_TIMEOUT:=480}"
# the helper under test; -L 256k: the log switches files several times
QFP_E2E_BACKEND="fs-proc:-d -L 256k"
# shellcheck source=../e2e/lib.sh
. "$(dirname "$0")/../e2e/lib.sh"
e2e_init powercut "$@"

PC=$E2E_REPO/tests/powercut
TOOL="$PYTHON $PC/powercut.py"
SEED=${QFP_PC_SEED:-$((RANDOM * 32768 + RANDOM))}
MAILS=${QFP_PC_MAILS:-30}
STATES=${QFP_PC_STATES:-48}
CSTATES=${QFP_PC_CONTROL_STATES:-12}
SWSTATES=${QFP_PC_SWITCH_STATES:-10}
MB=64
FUSE_PID=
FUSE_MNT=
LOOPS=

pc_cleanup() {	# everything this script started, by pid and by name
	local l
	[ -n "$SMTPD_PID" ] && stop_smtpd quiet
	mountpoint -q "$SPOOL" && umount "$SPOOL"
	for l in $LOOPS; do losetup -d "$l" 2>/dev/null; done
	LOOPS=
	if [ -n "$FUSE_MNT" ]; then
		umount "$FUSE_MNT" 2>/dev/null
		FUSE_MNT=
	fi
	if [ -n "$FUSE_PID" ]; then
		wait_until 5 proc_dead "$FUSE_PID" || kill -KILL "$FUSE_PID"
		wait "$FUSE_PID" 2>/dev/null
		FUSE_PID=
	fi
}
trap 'rc=$?; pc_cleanup; (exit $rc); e2e_exit_trap' EXIT

for p in "$PC/blkfuse" "$PC/queue-fs-proc-nobarrier"; do
	if [ ! -x "$p" ]; then
		fail setup "$p not built (make check-powercut builds it)"
		exit 1
	fi
done
for t in losetup mkfs.ext4 e2fsck filefrag mountpoint; do
	if ! command -v $t >/dev/null; then
		fail setup "$t not found (sh tests/deps.sh installs it)"
		exit 1
	fi
done
# Every barrier of that control must be a no-op: one the daemon calls
# that the wrap does not cover would keep a barrier it must not have.
calls=$(nm -D --undefined-only "$PC/queue-fs-proc-nobarrier" |
    awk '{ sub(/@.*/, "", $2) }
	$2 ~ /^(fsync|fdatasync|syncfs|sync|sync_file_range|msync)$/ {
		printf " %s", $2 }')
if [ -n "$calls" ]; then
	fail setup "queue-fs-proc-nobarrier still calls$calls"
	exit 1
fi
# The control without barriers runs as backend fs-proc-nobarrier: smtpd
# executes $LIBEXEC/queue-fs-proc-nobarrier, in this namespace only.
install_helper fs-proc-nobarrier "$PC/queue-fs-proc-nobarrier" ||
    { fail setup "libexec"; exit 1; }
# The spool's parent on a tmpfs of this mount namespace: a test outside
# that wipes /var/spool/smtpd on the root file system would otherwise
# remove the mount point under a state (and detach what is mounted).
if ! mount -t tmpfs -o mode=0755 qfp-powercut "$(dirname "$SPOOL")"; then
	fail setup "cannot mount a tmpfs on $(dirname "$SPOOL")"
	exit 1
fi
note "seed $SEED (QFP_PC_SEED=$SEED to repeat)"

# pc_start BACKEND: smtpd -d on the spool, bounded wait until it serves
pc_up() {
	smtpd_ready || proc_dead "$SMTPD_PID"
}
pc_start() {
	SMTPD_RUN=$((SMTPD_RUN + 1))
	SMTPD_LOG=$WORK/smtpd-$SMTPD_RUN.log
	SMTPD_BACKEND=$1	# stop_smtpd reads it
	"$SMTPD" -d -f "$CONF" -B "queue=$1" >"$SMTPD_LOG" 2>&1 </dev/null &
	SMTPD_PID=$!
	wait_until 30 pc_up
	smtpd_ready && return 0
	stop_smtpd quiet
	return 1
}

# pc_loop [ARGS] FILE: attach a loop device, DEV, remembered for the
# cleanup (not in a subshell, so LOOPS keeps it)
pc_loop() {
	DEV=$(losetup -f --show "$@") || return 1
	LOOPS="$LOOPS $DEV"
}

pc_detach() {	# unmount the spool, detach the loop devices
	local l
	if mountpoint -q "$SPOOL"; then umount "$SPOOL" || return 1; fi
	for l in $LOOPS; do losetup -d "$l" || return 1; done
	LOOPS=
}

# The recorded disk: blkfuse on DIR/fuse, a loop device with direct I/O
# on its file, and a check that a write through the loop device is in
# the trace as soon as it completes (no page cache in between).
pc_disk() {
	local dir=$1 dev last
	FUSE_MNT=$dir/fuse
	mkdir -p "$FUSE_MNT"
	"$PC/blkfuse" "$dir/trace" $MB "$FUSE_MNT" 2>"$dir/blkfuse.err" &
	FUSE_PID=$!
	wait_until 10 test -e "$FUSE_MNT/disk" || return 1
	pc_loop --direct-io=on "$FUSE_MNT/disk" || return 1
	dev=$DEV
	[ "$(losetup -n -O DIO "$dev" | tr -d ' ')" = 1 ] || {
		echo "# $dev: no direct I/O"; return 1; }
	# a write-through queue would send no flush at all
	[ "$(cat "/sys/block/${dev#/dev/}/queue/write_cache")" = \
	    "write back" ] || { echo "# $dev: no write cache"; return 1; }
	dd if=/dev/urandom of="$dev" bs=4096 count=1 seek=7 oflag=direct \
	    status=none || return 1
	last=$($TOOL lastwrite "$dir/trace")
	[ "$last" = "28672 4096" ] || {
		echo "# write through $dev not in the trace ($last)"; return 1; }
	# the spool's own mode, durable before smtpd runs: set-up, not mail
	mkfs.ext4 -q -F -b 4096 -E nodiscard "$dev" &&
	    mount "$dev" "$SPOOL" && chmod 0711 "$SPOOL" && sync -f "$SPOOL"
}

pc_undisk() {	# stop recording: unmount, detach, end blkfuse
	pc_detach || return 1
	umount "$FUSE_MNT" || return 1
	FUSE_MNT=
	wait_until 10 proc_dead "$FUSE_PID" || return 1
	wait "$FUSE_PID"
	FUSE_PID=
}

# pc_record NAME BACKEND: one recorded run; $WORK/NAME/{trace,manifest,ext}
pc_record() {
	local dir=$WORK/$1 backend=$2
	mkdir -p "$dir" "$SPOOL"
	pc_disk "$dir" || { echo "# recorded disk: set-up failed"; return 1; }
	pc_start "$backend" || { echo "# smtpd did not start"; return 1; }
	$TOOL send "$dir/manifest" "$MAILS" "$SEED" "$QFP_E2E_PORT" ||
	    return 1
	stop_smtpd quiet
	$TOOL extents "$dir/ext" "$SPOOL"/fs-proc/log.0 "$SPOOL"/fs-proc/log.1
	pc_undisk || { echo "# recorded disk: tear-down failed"; return 1; }
	echo "# $1: $(grep -c . "$dir/manifest") mails acknowledged," \
	    "$(grep -c . "$dir/ext") log file extents"
}

# cut_state RUN K T FUNC ARG...: crash image of the recorded run RUN at
# flush K (time T) mounted as the spool, then FUNC ARG... MANIFEST T on
# it, which sets CUT to "checked N lost N torn N stray N" (after the
# lines on the first bad mails), or to why it could not
cut_state() {
	local dir=$WORK/$1 k=$2 t=$3 img=$WORK/state.img rc
	shift 3
	CUT=
	$TOOL build "$dir/trace" "$k" "$SEED" $MB "$img" >"$dir/build.out" ||
	    { CUT="cannot build the image"; return 1; }
	e2fsck -fy "$img" >"$dir/fsck.out" 2>&1
	rc=$?
	[ $rc -ge 4 ] && { CUT="e2fsck exited $rc"; return 1; }
	if ! pc_loop "$img" || ! mount "$DEV" "$SPOOL" 2>"$dir/mount.err"; then
		CUT="cannot mount the image: $(head -1 "$dir/mount.err")"
		pc_detach
		return 1
	fi
	"$@" "$dir/manifest" "$t"
	pc_detach || CUT="cannot detach the image"
	case $(echo "$CUT" | tail -1) in checked*) ;; *) return 1 ;; esac
}

# on_queue BACKEND MANIFEST T: smtpd started and stopped on the spool,
# then every mail of MANIFEST acknowledged before T looked for
on_queue() {
	if pc_start "$1"; then
		stop_smtpd quiet
		CUT=$($TOOL check "$2" "$3" "$SPOOL")
	else
		CUT="smtpd -B queue=$1 did not start on it"
		log_tail 10
	fi
}

queue_names() {	# every message directory and envelope in queue/
	(cd "$SPOOL" && find queue -mindepth 2 -maxdepth 3 ! -name message) |
	    sort
}

# on_switch MANIFEST T: back to the built-in queue as the drop-in does
# it (its command, then smtpd -B queue=fs), checked, then to the helper
# again, checked again; CUT's last line has the worse counts of the two
# and "back N": what is in queue/ after the helper and was not after
# the built-in queue (a message or an envelope brought back)
on_switch() {
	local cmd rc fs c l r l2 r2 x back
	cmd=$(dropin_command)
	$cmd >"$WORK/dropin.out" 2>&1 </dev/null
	rc=$?
	if [ $rc != 0 ]; then
		CUT="'$cmd' exited $rc: $(head -2 "$WORK/dropin.out" | tr '\n' ' ')"
		return
	fi
	grep -q 'log replayed' "$WORK/dropin.out" && REPLAYED=$((REPLAYED + 1))
	on_queue fs "$@"
	case $(echo "$CUT" | tail -1) in checked*) ;; *) return ;; esac
	fs=$CUT
	queue_names >"$WORK/queue.fs"
	on_queue "$QFP_E2E_BACKEND" "$@"
	case $(echo "$CUT" | tail -1) in checked*) ;; *) return ;; esac
	back=$(queue_names | comm -13 "$WORK/queue.fs" -)
	read -r _ c _ l _ r _ _ <<<"$(echo "$fs" | tail -1)"
	read -r _ _ _ l2 _ r2 _ x <<<"$(echo "$CUT" | tail -1)"
	CUT=$({ sed 's/^/# drop-in: /' "$WORK/dropin.out"
		echo "$fs" | sed '$d; s/^# /# built-in queue: /'
		echo "$CUT" | sed '$d; s/^# /# helper again: /'
		echo "$back" | grep . | head -3 | sed 's/^/# came back: /'
		echo "checked $c lost $((l > l2 ? l : l2))" \
		    "torn $((r > r2 ? r : r2)) stray $x back $(echo "$back" | grep -c .)"
	})
}

# pc_states NAME RUN PLAN FUNC ARG...: the states of PLAN cut from the
# recorded run RUN, FUNC ARG... on each, reported as NAME/flush-K(KIND);
# sets LOST, TORN, CHECKED, STRAY, BACK
pc_states() {
	local name=$1 run=$2 plan=$3 k t kind c l r x b more= n=0 bad=0
	shift 3
	LOST=0 TORN=0 CHECKED=0 STRAY=0 BACK=0
	while read -r k t kind; do
		n=$((n + 1))
		if ! cut_state "$run" "$k" "$t" "$@"; then
			fail "$name/flush-$k($kind)" "$CUT"
			bad=$((bad + 1))
			continue
		fi
		read -r _ c _ l _ r _ x _ b <<<"$(echo "$CUT" | tail -1)"
		CHECKED=$((CHECKED + c)) LOST=$((LOST + l)) TORN=$((TORN + r))
		STRAY=$((STRAY + x)) BACK=$((BACK + ${b:-0}))
		state_report "$name/flush-$k($kind)" "$c" "$l" "$r" "${b:-0}"
		echo "$CUT" | sed '$d'
	done <"$plan"
	[ "$MODE" = switch ] && more=", $BACK came back"
	note "$name: $n states, $CHECKED mails checked, $LOST lost," \
	    "$TORN torn$more; $STRAY incomplete message" \
	    "directories in queue/ (of those, or of commits never acknowledged)"
	[ $bad = 0 ]
}

# pc_run NAME BACKEND NSTATES: record, cut, count (pc_states)
pc_run() {
	if ! pc_record "$1" "$2"; then
		log_tail 20
		return 1
	fi
	$TOOL plan "$WORK/$1/trace" "$WORK/$1/manifest" \
	    "$WORK/$1/ext" "$3" >"$WORK/$1/plan" || return 1
	pc_states "$1" "$1" "$WORK/$1/plan" on_queue "$2"
}

# state_report NAME CHECKED LOST TORN BACK: the helper under test must
# lose nothing in any state, nor bring anything back; a control's
# states are only counted
state_report() {
	if [ "$MODE" = control ]; then
		note "$1: $2 checked, $3 lost, $4 torn"
	elif [ $(($3 + $4 + $5)) = 0 ]; then
		pass "$1 ($2 acknowledged mails intact)"
	else
		fail "$1" "$3 of $2 acknowledged mails lost, $4 torn, $5 came back"
	fi
}

# pc_control NAME WHAT WHY CMD...: CMD, a control's run (pc_run or
# pc_states), must lose or tear acknowledged mail in some state, or WHY
pc_control() {
	local name=$1 what=$2 why=$3
	shift 3
	if ! "$@"; then
		fail "control-$name" "no complete run ($what)"
	elif [ $((LOST + TORN)) -gt 0 ]; then
		pass "control-$name ($what lost $LOST, tore $TORN)"
	else
		fail "control-$name" "$what lost no acknowledged mail in any state: $why"
	fi
}

# pc_barrier NAME BACKEND: a control recorded with BACKEND, missing a
# barrier the helper under test has
pc_barrier() {
	pc_control "$1" "-B queue=$2" \
	    "the harness cannot see a missing barrier" pc_run "$1" "$2" "$CSTATES"
}

MODE=helper
SECONDS=0
if ! pc_run helper "$QFP_E2E_BACKEND" "$STATES"; then
	fail helper "no complete run (-B queue=$QFP_E2E_BACKEND)"
elif [ "$CHECKED" = 0 ]; then
	fail helper "no acknowledged mail before any chosen flush"
fi
H="$CHECKED checked, $LOST lost, $TORN torn"
# Back to the built-in queue through the drop-in after the power cut,
# then to the helper again, on some of the helper's states (on_switch);
# its control starts the built-in queue on them without the drop-in.
SW=$WORK/helper/plan.switch
if ! $TOOL subset "$WORK/helper/plan" "$SWSTATES" "$SEED" >"$SW"; then
	fail switch "no plan of the helper's run to take states from"
else
	MODE=switch REPLAYED=0
	if ! pc_states switch helper "$SW" on_switch; then
		fail switch "not every state could be cut and checked"
	elif [ "$CHECKED" = 0 ]; then
		fail switch "no acknowledged mail before any chosen flush"
	else
		check switch "$LOST lost, $TORN torn, $BACK came back" \
		    [ $((LOST + TORN + BACK)) = 0 ]
	fi
	S="$CHECKED checked, $LOST lost, $TORN torn, $BACK came back"
	note "switch: '$(dropin_command)' replayed a log in $REPLAYED of" \
	    "$(grep -c . "$SW") states"
	MODE=control
	pc_control switch-direct "-B queue=fs without '$(dropin_command)'" \
	    "the control proved nothing (nor, then, the switch)" \
	    pc_states switch-direct helper "$SW" on_queue fs
fi
MODE=control
pc_barrier builtin fs
pc_barrier sync-none "$QFP_E2E_BACKEND -S none"
pc_barrier nobarrier "fs-proc-nobarrier:${QFP_E2E_BACKEND#*:}"
note "helper under test: $H; switch: ${S:-not run}; ${SECONDS}s"
e2e_finish
