#!/bin/bash
# Packaging: the Debian package and make install/uninstall.
#
# - dpkg-buildpackage -us -uc -b in a temporary copy of the working files
#   (git ls-files: tracked and not ignored), so that no build product
#   lands in the repository; the man page is a placeholder in the copy if
#   the tree has none yet;
# - lintian finds no error in the package (warnings are shown);
# - the .deb holds the helper, its man page and the systemd drop-in
#   for opensmtpd.service (ExecStartPre: queue-fs-proc -R), and depends
#   on opensmtpd;
# - apt-get install of it: files in place, the helper checks a clean
#   spool (-n) with exit 0, systemd-analyze verify takes opensmtpd.service
#   with the drop-in, the drop-in's command exits 0 on spools with no
#   log to replay and on a missing one; apt-get remove: files gone;
# - make install / uninstall DESTDIR=tmp: files appear and disappear.
#
# The end-to-end tests install the helper by hand at the same path: at the
# end this puts the tree's freshly built one back there.  Run as root from
# the top of the tree; needs debhelper and dpkg-dev (tests/deps.sh).
set -u

BIN=/usr/libexec/opensmtpd/queue-fs-proc
MAN=/usr/share/man/man8/queue-fs-proc.8.gz
DROPIN_RE='(usr/)?lib/systemd/system/opensmtpd\.service\.d/queue-fs-proc\.conf'
QFP=queue-fs-proc/queue-fs-proc
DRIVE=tests/lib/qfp-drive
USER_Q=qfptest
T=$(mktemp -d /tmp/qfp-op-deb.XXXXXX)
made_prc=0

. tests/lib/report.sh

cleanup() {
	# leave the tree's own build at the path the e2e tests use
	if [ -x "$QFP" ]; then
		install -D -m 0755 "$QFP" "$BIN"
	fi
	[ $made_prc = 1 ] && rm -f /usr/sbin/policy-rc.d
	rm -rf "$T"
}
trap cleanup EXIT

if [ "$(id -u)" != 0 ]; then
	echo "FAIL: test-deb: must run as root"
	exit 1
fi
for tool in dpkg-buildpackage dh git lintian; do
	if ! command -v $tool >/dev/null; then
		echo "FAIL: test-deb: $tool missing (apt-get install debhelper" \
		    "dpkg-dev lintian; see tests/deps.sh)"
		exit 1
	fi
done
id "$USER_Q" >/dev/null 2>&1 || useradd -r -M -s /usr/sbin/nologin "$USER_Q"
make -s "$QFP" "$DRIVE" >/dev/null || { echo "FAIL: test-deb: make"; exit 1; }
top=$(pwd)

# ---- build the package in a copy --------------------------------------
mkdir "$T/src"
git ls-files -z -co --exclude-standard |
    tar -cf - --null -T - | tar -xf - -C "$T/src"
if [ ! -f "$T/src/man/queue-fs-proc.8" ]; then
	echo "note: no man/queue-fs-proc.8 yet: placeholder in the copy only"
	mkdir -p "$T/src/man"
	printf '.Dd $Mdocdate$\n.Dt QUEUE-FS-PROC 8\n.Os\n.Sh NAME\n.Nm queue-fs-proc\n.Nd placeholder\n' \
	    > "$T/src/man/queue-fs-proc.8"
fi
if (cd "$T/src" && dpkg-buildpackage -us -uc -b) > "$T/build.log" 2>&1; then
	pass "dpkg-buildpackage -us -uc -b builds"
else
	fail "dpkg-buildpackage" "failed: $(tail -20 "$T/build.log")"
	exit 1
fi
deb=$(ls "$T"/queue-fs-proc_*_*.deb 2>/dev/null | head -1)
if [ -z "$deb" ]; then
	fail "package" "no queue-fs-proc_*.deb in $T"
	exit 1
fi
pass "package built: ${deb##*/}"

# lintian, on everything dpkg-buildpackage made (.changes): no error
if lintian --fail-on error "${deb%_*}"_*.changes > "$T/lintian.log" 2>&1
then
	pass "lintian: no error ($(grep -c '^W: ' "$T/lintian.log") warnings)"
else
	fail "lintian" "$(grep -v 'root privileges' "$T/lintian.log")"
fi
grep '^W: ' "$T/lintian.log" | sed 's/^/# /'

# nothing of the build in the repository
left=""
for f in debian/queue-fs-proc debian/.debhelper debian/files \
    debian/debhelper-build-stamp debian/queue-fs-proc.substvars \
    debian/tmp; do
	[ -e "$top/$f" ] && left="$left $f"
done
ls "$top"/../queue-fs-proc_* >/dev/null 2>&1 && left="$left ../queue-fs-proc_*"
[ -z "$left" ] && pass "no build product in the repository" ||
    fail "repository" "build products:$left"

# ---- the package's contents and control data -------------------------
contents=$(dpkg-deb -c "$deb")
if grep -q "^-rwxr-xr-x root/root .* \./usr/libexec/opensmtpd/queue-fs-proc$" \
    <<<"$contents" &&
    grep -q "^-rw-r--r-- root/root .* \./usr/share/man/man8/queue-fs-proc\.8\.gz$" \
    <<<"$contents"; then
	pass "package holds the helper (0755) and its man page (compressed, 0644)"
else
	fail "contents" "$contents"
fi
if grep -qE "^-rw-r--r-- root/root .* \./$DROPIN_RE\$" <<<"$contents"; then
	pass "package holds the drop-in $(grep -oE "$DROPIN_RE\$" <<<"$contents") (0644)"
else
	fail "contents" "no opensmtpd.service.d/queue-fs-proc.conf: $contents"
fi
depends=$(dpkg-deb -f "$deb" Depends)
if [ "$(dpkg-deb -f "$deb" Package)" = queue-fs-proc ] &&
    grep -qE '(^|, )opensmtpd($|,| )' <<<"$depends"; then
	pass "package queue-fs-proc depends on opensmtpd ($depends)"
else
	fail "control" "Package $(dpkg-deb -f "$deb" Package), Depends $depends"
fi

# systemd-analyze verify: opensmtpd.service, with the installed drop-in,
# is sane (its ExecStartPre binary exists, nothing in it is ignored).
# First the check itself: a copy of the drop-in naming a missing binary
# must fail it, or it never read the drop-in.
verify_dropin() {
	local u=$T/units out rc
	if ! command -v systemd-analyze >/dev/null ||
	    [ ! -f /lib/systemd/system/opensmtpd.service ]; then
		echo "# no systemd-analyze or no opensmtpd.service: not verified"
		return 0
	fi
	mkdir -p "$u/opensmtpd.service.d"
	cp /lib/systemd/system/opensmtpd.service "$u/"
	sed "s|^ExecStartPre=[^ ]*|ExecStartPre=$u/missing|" "$dropin" \
	    > "$u/opensmtpd.service.d/queue-fs-proc.conf"
	if SYSTEMD_UNIT_PATH=$u: systemd-analyze verify "$u/opensmtpd.service" \
	    >/dev/null 2>&1; then
		fail "systemd-analyze" "verify passes a drop-in naming a missing binary: it does not read drop-ins"
		return 1
	fi
	out=$(systemd-analyze verify opensmtpd.service 2>&1); rc=$?
	if [ $rc = 0 ] && ! grep -q 'queue-fs-proc' <<<"$out"; then
		pass "systemd-analyze verify opensmtpd.service with the drop-in"
	else
		fail "systemd-analyze verify" "exit $rc: $out"
	fi
}

# ---- install, use, remove ---------------------------------------------
if [ ! -e /usr/sbin/policy-rc.d ]; then
	# as tests/deps.sh: keep package scripts from starting smtpd
	printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
	chmod 755 /usr/sbin/policy-rc.d
	made_prc=1
fi
export DEBIAN_FRONTEND=noninteractive
apt_opts="-y -q -o DPkg::Lock::Timeout=120"
if apt-get install $apt_opts "$deb" > "$T/install.log" 2>&1 &&
    dpkg-query -W -f='${Status}' queue-fs-proc | grep -q 'ok installed'; then
	pass "apt-get install ./${deb##*/}"
else
	fail "apt-get install" "$(tail -10 "$T/install.log")"
fi
if [ -x "$BIN" ] && [ -f "$MAN" ] &&
    [ "$(stat -c '%a %U' "$BIN")" = "755 root" ] &&
    dpkg -S "$BIN" 2>/dev/null | grep -q '^queue-fs-proc:' &&
    cmp -s "$BIN" "$T/src/debian/queue-fs-proc$BIN"; then
	pass "installed: $BIN and $MAN, owned by the package"
else
	fail "installed files" "$(ls -l "$BIN" "$MAN" 2>&1)"
fi
if command -v man >/dev/null && [ "$(man -w queue-fs-proc 2>/dev/null)" != "$MAN" ]
then
	fail "man" "man -w queue-fs-proc: $(man -w queue-fs-proc 2>&1)"
else
	pass "man queue-fs-proc finds the page"
fi

spool=$(mktemp -d "$T/spool.XXXXXX"); chmod 0711 "$spool"
if "$DRIVE" -s "$spool" -u "$USER_Q" fill 2 2 > /dev/null; then
	out=$("$BIN" -n -s "$spool" -u "$USER_Q" 2>&1); rc=$?
	if [ $rc = 0 ] && grep -qx 'messages: 2' <<<"$out" &&
	    grep -qx 'envelopes: 4' <<<"$out"; then
		pass "the installed helper checks a clean spool: exit 0"
	else
		fail "installed helper -n" "exit $rc: $out"
	fi
else
	fail "spool" "qfp-drive could not fill a spool"
fi

# the drop-in as installed: its ExecStartPre, run as systemd would
# before smtpd, on spools with nothing to replay (-u: the test's queue
# user owns them)
dropin=$(dpkg -L queue-fs-proc 2>/dev/null | grep -E "/$DROPIN_RE\$" | head -1)
pre=$(sed -n 's/^ExecStartPre=//p' "${dropin:-/dev/null}")
if [ -n "$dropin" ] && grep -qx '\[Service\]' "$dropin" &&
    [ "$pre" = "$BIN -R" ]; then
	pass "drop-in $dropin: [Service] ExecStartPre=$pre"
else
	fail "drop-in" "${dropin:-not installed}: $(cat "${dropin:-/dev/null}" 2>&1)"
fi
verify_dropin
if [ -n "$pre" ]; then
	empty=$(mktemp -d "$T/spool.XXXXXX"); chmod 0711 "$empty"
	# no spool at all: the first start after the package's install
	# (smtpd makes the spool; opensmtpd does not ship it)
	for sp in "$T/nospool" "$empty" "$spool"; do
		out=$($pre -s "$sp" -u "$USER_Q" 2>&1); rc=$?
		case $sp in
		"$T/nospool")	what="missing spool" ;;
		"$empty")	what="spool with no log" ;;
		*)		what="spool the helper closed cleanly" ;;
		esac
		check "ExecStartPre on a $what: exit 0" "exit $rc: $out" [ $rc = 0 ]
	done
fi

if apt-get remove $apt_opts queue-fs-proc > "$T/remove.log" 2>&1 &&
    ! dpkg-query -W -f='${Status}' queue-fs-proc 2>/dev/null |
    grep -q 'ok installed' && [ ! -e "$BIN" ] && [ ! -e "$MAN" ] &&
    [ ! -e "$dropin" ]; then
	pass "apt-get remove: package and files gone"
else
	fail "apt-get remove" "$(tail -5 "$T/remove.log"; ls -l "$BIN" "$MAN" "$dropin" 2>&1)"
fi
dpkg --purge queue-fs-proc >/dev/null 2>&1

# ---- make install / uninstall -----------------------------------------
d="$T/destdir"
if make -s install DESTDIR="$d" > "$T/make.log" 2>&1 &&
    [ "$(stat -c %a "$d$BIN" 2>/dev/null)" = 755 ] &&
    cmp -s "$d$BIN" "$QFP" &&
    [ "$(stat -c %a "$d/usr/share/man/man8/queue-fs-proc.8" 2>/dev/null)" = 644 ] &&
    cmp -s "$d/usr/share/man/man8/queue-fs-proc.8" man/queue-fs-proc.8; then
	pass "make install DESTDIR: helper (0755) and man page (0644) in place"
else
	fail "make install" "$(cat "$T/make.log"; find "$d" 2>&1)"
fi
conf=$(find "$d" -path "*/opensmtpd.service.d/queue-fs-proc.conf" | head -1)
check "make install DESTDIR: the drop-in (0644, ExecStartPre=$BIN -R)" \
    "$(find "$d" 2>&1)" \
    eval '[ "$(stat -c %a "$conf" 2>/dev/null)" = 644 ] &&
    grep -qx "ExecStartPre=$BIN -R" "$conf"'
if make -s uninstall DESTDIR="$d" > "$T/make.log" 2>&1 &&
    [ ! -e "$d$BIN" ] && [ ! -e "$d/usr/share/man/man8/queue-fs-proc.8" ] &&
    [ ! -e "$conf" ]; then
	pass "make uninstall DESTDIR: all three gone"
else
	fail "make uninstall" "$(cat "$T/make.log"; find "$d" 2>&1)"
fi
d="$T/destdir2"
if make -s install DESTDIR="$d" PREFIX=/opt/qfp > "$T/make.log" 2>&1 &&
    [ -x "$d/opt/qfp/libexec/opensmtpd/queue-fs-proc" ] &&
    [ -f "$d/opt/qfp/share/man/man8/queue-fs-proc.8" ] &&
    grep -rqx "ExecStartPre=/opt/qfp/libexec/opensmtpd/queue-fs-proc -R" \
    "$d" &&
    make -s uninstall DESTDIR="$d" PREFIX=/opt/qfp >> "$T/make.log" 2>&1 &&
    [ ! -e "$d/opt/qfp/libexec/opensmtpd/queue-fs-proc" ]; then
	pass "make install/uninstall honour PREFIX"
else
	fail "PREFIX" "$(cat "$T/make.log"; find "$d" 2>&1)"
fi

# the tree's build back at the path the end-to-end tests use
install -D -m 0755 "$QFP" "$BIN"
if cmp -s "$QFP" "$BIN"; then
	pass "$BIN is the tree's fresh build again"
else
	fail "restore" "$BIN differs from $QFP"
fi

report_end
