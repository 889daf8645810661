#!/bin/sh
# Install what building, testing and benchmarking need, from Debian's
# packages, once, on Debian 12 or 13.  No package name here carries a
# release: the libraries of Postfix's smtp-source (bench/e2e-bench.sh
# unpacks it without installing postfix, which conflicts with opensmtpd)
# are named differently in each release (libicu72, libicu76, ...), so
# they are read from the archive's postfix entry.  libclang-rt-dev:
# clang's sanitizer runtimes (check-asan), which clang pulls in on
# Debian 12 but not on 13.
# opensmtpd's own service is kept from starting: the tests start smtpd
# themselves, in a private network namespace.
set -eu

PKGS="build-essential pkg-config libevent-dev libbsd-dev libcmocka-dev \
opensmtpd swaks mandoc strace iproute2 util-linux procps libseccomp-dev \
clang libclang-rt-dev valgrind debhelper git python3 debootstrap lintian \
libfuse3-dev fuse3 e2fsprogs"

# postfix's library dependencies (Depends: lib*, first of alternatives
# excluded), as the package lists name them; empty without lists.
postfix_libs() {
	apt-cache depends --no-pre-depends --no-recommends --no-suggests \
	    --no-conflicts --no-breaks --no-replaces --no-enhances postfix \
	    2>/dev/null | awk '$1 == "Depends:" && $2 ~ /^lib/ { print $2 }'
}

not_installed() {	# not_installed PKG...: those not installed
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
		    grep -q "ok installed" || printf ' %s' "$p"
	done
}

libs=$(postfix_libs)
missing=$(not_installed $PKGS $libs)
[ -z "$missing" ] && [ -n "$libs" ] && exit 0

if [ "$(id -u)" != 0 ]; then
	echo "deps: missing packages:${missing:- (and no package lists)}" \
	    "(run as root to install)" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt="apt-get -q -o DPkg::Lock::Timeout=300"
$apt update
libs=$(postfix_libs)
if [ -z "$libs" ]; then
	echo "deps: cannot read postfix's dependencies (apt-cache depends" \
	    "postfix): is Debian's archive in the apt sources?" >&2
	exit 1
fi
missing=$(not_installed $PKGS $libs)
[ -z "$missing" ] && exit 0
echo "deps: installing$missing"
# Keep package scripts from starting smtpd on port 25.
prc=/usr/sbin/policy-rc.d
made_prc=0
if [ ! -e $prc ]; then
	printf '#!/bin/sh\nexit 101\n' > $prc
	chmod 755 $prc
	made_prc=1
fi
rc=0
$apt install -y --no-install-recommends $missing || rc=$?
[ $made_prc = 1 ] && rm -f $prc
exit $rc
