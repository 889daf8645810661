#!/bin/sh
# Install what building, testing and benchmarking need, from Debian's
# packages, once.  (libdb5.3, libicu72, libnsl2: the libraries of
# Postfix's smtp-source, which bench/e2e-bench.sh unpacks without
# installing postfix, which conflicts with opensmtpd.)
# opensmtpd's own service is kept from starting: the tests start smtpd
# themselves, in a private network namespace.
set -eu

PKGS="build-essential pkg-config libevent-dev libbsd-dev libcmocka-dev \
opensmtpd swaks mandoc strace iproute2 util-linux procps libseccomp-dev \
clang valgrind debhelper git \
libdb5.3 libicu72 libnsl2"

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
	    missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
	echo "deps: missing packages:$missing (run as root to install)" >&2
	exit 1
fi
echo "deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
# Keep package scripts from starting smtpd on port 25.
prc=/usr/sbin/policy-rc.d
made_prc=0
if [ ! -e $prc ]; then
	printf '#!/bin/sh\nexit 101\n' > $prc
	chmod 755 $prc
	made_prc=1
fi
apt-get update -q
apt-get install -y -q --no-install-recommends $missing
[ $made_prc = 1 ] && rm -f $prc
exit 0
