/*
 * A control of tests/powercut: the helper with its barriers turned
 * into no-ops.  Linked with -Wl,--wrap=fsync,--wrap=fdatasync,
 * --wrap=syncfs, so every call the daemon's code makes to them lands
 * here and returns success without syncing anything: the helper then
 * answers as if its records were on stable storage while they are
 * only in the page cache.  A power-cut test that cannot make this
 * binary lose acknowledged mail cannot see a missing barrier.
 */
int	__wrap_fsync(int);
int	__wrap_fdatasync(int);
int	__wrap_syncfs(int);

int
__wrap_fsync(int fd)
{
	return 0;
}

int
__wrap_fdatasync(int fd)
{
	return 0;
}

int
__wrap_syncfs(int fd)
{
	return 0;
}
