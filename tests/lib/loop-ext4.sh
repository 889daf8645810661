#!/bin/sh
# A fresh, journaled ext4 (mkfs.ext4 defaults: data=ordered) on a loop
# device, for the tests and benchmarks whose syncs must flush their own
# data only, on a file system with no history of its own:
#
#   sh tests/lib/loop-ext4.sh [-d] [-N inodes] [-o mount-options]
#	[-t image-dir] SIZE MNT
#
# SIZE as truncate(1) takes it (1024M, 4G); the sparse image goes in
# image-dir (default $TMPDIR or /tmp) and is unlinked once mounted: the
# loop device holds it until the umount.  -d: direct I/O on the loop
# device, so the image is not cached a second time and a flush costs
# what the disk's does.  Inode tables and journal are made lazily.
# Exit 0 when MNT is mounted, else 1 (and nothing left behind).
direct=0 inodes= mopts=loop,noinit_itable dir=${TMPDIR:-/tmp}
while getopts dN:o:t: opt; do
	case $opt in
	d) direct=1 ;;
	N) inodes="-N $OPTARG" ;;
	o) mopts="$mopts,$OPTARG" ;;
	t) dir=$OPTARG ;;
	*) exit 2 ;;
	esac
done
shift $((OPTIND - 1))
[ $# = 2 ] || { echo "usage: loop-ext4.sh [-d] [-N inodes] [-o opts] [-t dir] SIZE MNT" >&2; exit 2; }
img=$(mktemp "$dir/qfp-ext4.XXXXXX") || exit 1
# shellcheck disable=SC2086
if ! truncate -s "$1" "$img" ||
    ! mkfs.ext4 -q -F $inodes -E lazy_itable_init=1,lazy_journal_init=1 \
    "$img" >/dev/null 2>&1 ||
    ! mount -o "$mopts" "$img" "$2"; then
	echo "loop-ext4: cannot make and mount an ext4 of $1 on $2" >&2
	rm -f "$img"
	exit 1
fi
rm -f "$img"
if [ $direct = 1 ] &&
    ! losetup --direct-io=on "$(findmnt -n -o SOURCE "$2")"; then
	echo "# (loop device without direct I/O)" >&2
fi
exit 0
