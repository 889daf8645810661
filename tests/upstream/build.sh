#!/bin/bash
# Fetch Debian sid's opensmtpd source package with apt-get (private apt
# state: the machine's own sources, lists and status are not read or
# changed) and build it twice into private prefixes with their own spool,
# control socket, pid file and empty chroot: once as released, once with
# contrib/opensmtpd-7.7-queue_proc-fd_r.patch.  Both builds are cached
# under $QFP_UPSTREAM_CACHE, keyed by source version (and patch hash); a
# build counts only once its stamp is written.
#
# Writes $QFP_UPSTREAM_CACHE/{unpatched,patched}.env (QFP_E2E_* settings of
# tests/e2e/lib.sh) for the test scripts beside this one; prints
# "PASS:/FAIL: upstream/..." lines.
. "$(dirname "${BASH_SOURCE[0]}")/upstream.sh"

PATCH=$E2E_REPO/contrib/opensmtpd-7.7-queue_proc-fd_r.patch
BUILD_DEPS="autoconf automake libtool bison make gcc patch pkgconf
    libevent-dev libssl-dev zlib1g-dev libcrypt-dev"
APT_DIR=$UP_CACHE/apt
APT_OPTS=()

# ---- packages to build with -------------------------------------------

# Only the missing ones, with the machine's own apt (names carry no release).
install_build_deps() {
	local p missing=""
	for p in $BUILD_DEPS; do
		dpkg-query -W -f '${Status}' "$p" 2>/dev/null |
		    grep -q 'ok installed' || missing="$missing $p"
	done
	[ -z "$missing" ] && return 0
	note "installing build dependencies:$missing"
	# shellcheck disable=SC2086
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o DPkg::Lock::Timeout=300 \
	    --no-install-recommends $missing >"$UP_CACHE/deps.log" 2>&1 && return 0
	apt-get update -q -o DPkg::Lock::Timeout=300 >>"$UP_CACHE/deps.log" 2>&1
	# shellcheck disable=SC2086
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o DPkg::Lock::Timeout=300 \
	    --no-install-recommends $missing >>"$UP_CACHE/deps.log" 2>&1 && return 0
	tail -n 5 "$UP_CACHE/deps.log" | indent
	return 1
}

# ---- the source package, through a private apt state -----------------

# The machine's Debian mirror, from its own apt sources (deb.debian.org if
# none is found); QFP_UPSTREAM_MIRROR overrides.
debian_mirror() {
	local m
	if [ -n "${QFP_UPSTREAM_MIRROR:-}" ]; then
		echo "$QFP_UPSTREAM_MIRROR"
		return
	fi
	m=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
	    /etc/apt/sources.list.d/*.sources 2>/dev/null |
	    grep -v '^[[:space:]]*#' |
	    grep -o -E 'https?://[^][ "]+/debian/?([[:space:]]|$)' |
	    head -n 1 | tr -d '[:space:]')
	echo "${m:-http://deb.debian.org/debian}"
}

setup_private_apt() {
	mkdir -p "$APT_DIR/state/lists/partial" \
	    "$APT_DIR/cache/archives/partial" "$APT_DIR/parts"
	: >>"$APT_DIR/status"
	echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $(debian_mirror) sid main" \
	    >"$APT_DIR/sources.list"
	APT_OPTS=(-o "Dir::Etc::SourceList=$APT_DIR/sources.list"
	    -o "Dir::Etc::SourceParts=$APT_DIR/parts"
	    -o "Dir::State=$APT_DIR/state"
	    -o "Dir::State::status=$APT_DIR/status"
	    -o "Dir::Cache=$APT_DIR/cache"
	    -o "APT::Sandbox::User=root")
}

# Refresh sid's Sources index once a day; an old index is used if the
# mirror cannot be reached.
update_private_apt() {
	if [ -z "$(find "$APT_DIR/state/lists" -name '*_Sources*' -mmin -1440 2>/dev/null)" ]; then
		apt-get "${APT_OPTS[@]}" update >"$APT_DIR/update.log" 2>&1 ||
		    note "apt-get update of sid's sources failed, see $APT_DIR/update.log"
	fi
	[ -n "$(find "$APT_DIR/state/lists" -name '*_Sources*' 2>/dev/null)" ]
}

source_version() {
	apt-cache "${APT_OPTS[@]}" showsrc opensmtpd 2>/dev/null |
	    awk '/^Version:/ { print $2 }' | sort -V | tail -n 1
}

# fetch_source VERSION DIR: the upstream tarball of the source package
# (apt checks it against sid's signed Sources index), unpacked and
# bootstrapped (autoreconf) into DIR/tree.  Only the tarball: the mirror
# reachable here and from CI serves sid's orig.tar.gz but not its .dsc
# and .debian.tar.xz (404), and the patch is for the upstream tree anyway.
fetch_source() {
	local version=$1 dir=$2 top
	[ -f "$dir/.complete" ] && return 0
	rm -rf "$dir"
	mkdir -p "$dir/dl"
	if ! (cd "$dir/dl" && apt-get "${APT_OPTS[@]}" source --tar-only \
	    "opensmtpd=$version") >"$dir/fetch.log" 2>&1; then
		tail -n 5 "$dir/fetch.log" | indent
		return 1
	fi
	mkdir -p "$dir/unpack"
	if ! tar -xf "$dir"/dl/opensmtpd_*.orig.tar.* -C "$dir/unpack" \
	    >>"$dir/fetch.log" 2>&1; then
		tail -n 5 "$dir/fetch.log" | indent
		return 1
	fi
	top=$(find "$dir/unpack" -mindepth 1 -maxdepth 1 -type d | head -n 1)
	if [ ! -f "$top/usr.sbin/smtpd/queue_proc.c" ]; then
		echo "# no usr.sbin/smtpd/queue_proc.c in the tarball" | indent
		return 1
	fi
	mv "$top" "$dir/tree"
	if [ ! -x "$dir/tree/configure" ] &&
	    ! (cd "$dir/tree" && autoreconf -fi) >>"$dir/fetch.log" 2>&1; then
		tail -n 5 "$dir/fetch.log" | indent
		return 1
	fi
	touch "$dir/.complete"
}

# ---- builds --------------------------------------------------------------

# build_smtpd SRC DIR [PATCH]: configure, build and install into DIR, every
# path smtpd compiles in kept under DIR.
build_smtpd() {
	local src=$1 dir=$2 patch=${3:-} log=$2/build.log
	[ -f "$dir/.complete" ] && return 0
	rm -rf "$dir"
	mkdir -p "$dir"
	cp -a "$src" "$dir/src"
	if [ -n "$patch" ] && ! (cd "$dir/src" && patch -p1 <"$patch") >"$log" 2>&1; then
		tail -n 5 "$log" | indent
		return 1
	fi
	mkdir -p "$dir/var/run" "$dir/var/empty"
	chmod 0755 "$dir" "$dir/var" "$dir/var/run" "$dir/var/empty"
	if ! (cd "$dir/src" &&
	    ./configure --prefix="$dir/prefix" \
		--sysconfdir="$dir/prefix/etc" \
		--libexecdir="$dir/prefix/libexec" \
		--with-path-queue="$dir/var/spool" \
		--with-path-socket="$dir/var/run" \
		--with-path-pidfile="$dir/var/run" \
		--with-path-empty="$dir/var/empty" \
		--with-user-smtpd=opensmtpd \
		--with-user-queue=opensmtpq \
		--with-group-queue=opensmtpq &&
	    make -j"$(nproc)" && make install) >>"$log" 2>&1; then
		tail -n 15 "$log" | indent
		return 1
	fi
	write_env "$dir" >"$dir/qfp-e2e.env"
	touch "$dir/.complete"
}

# The settings of tests/e2e/lib.sh for the build in DIR.
write_env() {
	local d=$1
	echo "QFP_E2E_SMTPD=$d/prefix/sbin/smtpd"
	echo "QFP_E2E_SMTPCTL=$d/prefix/sbin/smtpctl"
	echo "QFP_E2E_SPOOL=$d/var/spool"
	echo "QFP_E2E_SOCKET=$d/var/run/smtpd.sock"
	echo "QFP_E2E_LIBEXEC=$d/prefix/libexec/opensmtpd"
}

# Keep only the builds of the current source and patch.
prune_builds() {
	local d k keep
	for d in "$UP_CACHE"/src/* "$UP_CACHE"/build/*; do
		[ -e "$d" ] || continue
		keep=0
		for k in "$@"; do [ "$d" = "$k" ] && keep=1; done
		[ $keep = 1 ] || rm -rf "$d"
	done
}

# use_build NAME DIR: point NAME.env at the completed build in DIR, or
# remove NAME.env if there is none (renamed into place: a test reading it
# meanwhile sees the old file or the new one).
use_build() {
	if [ -f "$2/.complete" ]; then
		cp "$2/qfp-e2e.env" "$UP_CACHE/$1.env.tmp" &&
		    mv "$UP_CACHE/$1.env.tmp" "$UP_CACHE/$1.env"
	else
		rm -f "$UP_CACHE/$1.env"
	fi
}

give_up() {	# no build to test: the tests must not find an older one
	rm -f "$UP_CACHE/unpatched.env" "$UP_CACHE/patched.env"
	exit 1
}

timed() {	# timed CHECK WHY command...: check, with the seconds it took
	local t0=$SECONDS name=$1 why=$2
	shift 2
	if "$@"; then
		pass "$name"
		note "$name: $((SECONDS - t0))s"
		return 0
	fi
	fail "$name" "$why"
	return 1
}

main() {
	local version src unpatched patched hash
	if [ "$(id -u)" != 0 ]; then
		fail setup "must run as root (apt-get, make install of smtpctl)"
		exit 1
	fi
	mkdir -p "$UP_CACHE/src" "$UP_CACHE/build"
	# One build at a time, also across work trees sharing the cache.
	exec 8>"$UP_CACHE/.lock"
	if ! flock -w 1200 8; then
		fail setup "another build holds $UP_CACHE/.lock"
		exit 1
	fi
	timed build-deps "apt-get could not install them (see $UP_CACHE/deps.log)" \
	    install_build_deps || give_up
	setup_private_apt
	if ! update_private_apt; then
		fail fetch "no Sources index of sid from $(debian_mirror) (see $APT_DIR/update.log)"
		tail -n 5 "$APT_DIR/update.log" 2>/dev/null | indent
		give_up
	fi
	version=$(source_version)
	if [ -z "$version" ]; then
		fail fetch "sid's Sources index has no opensmtpd"
		give_up
	fi
	note "Debian sid's opensmtpd: $version"
	src=$UP_CACHE/src/$version
	timed fetch "apt-get source --tar-only opensmtpd=$version failed (see $src/fetch.log)" \
	    fetch_source "$version" "$src" || give_up

	hash=$(sha256sum "$PATCH" | cut -c1-12)
	unpatched=$UP_CACHE/build/$version-unpatched
	patched=$UP_CACHE/build/$version-patched-$hash
	prune_builds "$src" "$unpatched" "$patched"
	timed build-unpatched "build of $version failed (see $unpatched/build.log)" \
	    build_smtpd "$src/tree" "$unpatched"
	use_build unpatched "$unpatched"
	timed build-patched "build of $version with $(basename "$PATCH") failed (see $patched/build.log)" \
	    build_smtpd "$src/tree" "$patched" "$PATCH"
	use_build patched "$patched"
	up_finish
}

main "$@"
