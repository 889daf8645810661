/*
 * imsg dialect of the peer: explicit (-F), seen on a request with an fd,
 * or guessed from the version of the smtpd binary that forked us.
 */
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "framing.h"
#include "log.h"

#define VERSION_TAG	"OpenSMTPD "

int
framing_parse_mode(const char *s, enum framing_mode *mode)
{
	if (strcasecmp(s, "auto") == 0)
		*mode = FRAMING_AUTO;
	else if (strcasecmp(s, "A") == 0)
		*mode = FRAMING_A;
	else if (strcasecmp(s, "B") == 0)
		*mode = FRAMING_B;
	else
		return -1;
	return 0;
}

/*
 * Find "OpenSMTPD X.Y" in a binary image (smtpd -h prints "version:
 * OpenSMTPD 6.8.0p2" from such a literal) and map the version to the
 * dialect: OpenSMTPD portable 7.7.0 switched to B.
 */
enum imsg_dialect
framing_version_dialect(const char *image, size_t len, char *version,
    size_t versionsz)
{
	const char	*p = image, *end = image + len, *v;
	size_t		 n;
	int		 major, minor;

	while ((p = memmem(p, (size_t)(end - p), VERSION_TAG,
	    sizeof(VERSION_TAG) - 1)) != NULL) {
		v = p + sizeof(VERSION_TAG) - 1;
		p = v;
		for (n = 0; v + n < end && n < versionsz - 1 &&
		    strchr("0123456789.p", v[n]) != NULL && v[n] != '\0'; n++)
			;
		if (n < 3 || v[0] < '0' || v[0] > '9')
			continue;
		memcpy(version, v, n);
		version[n] = '\0';
		if (sscanf(version, "%d.%d", &major, &minor) != 2)
			continue;
		if (major > 7 || (major == 7 && minor >= 7))
			return IMSG_DIALECT_B;
		return IMSG_DIALECT_A;
	}
	return IMSG_DIALECT_UNKNOWN;
}

/* Read the peer's executable, overlapping reads so no match is split. */
static enum imsg_dialect
guess_from_binary(pid_t peer, char *version, size_t versionsz)
{
	static char	 buf[65536];
	const size_t	 overlap = 64;
	char		 path[64];
	size_t		 have = 0;
	ssize_t		 n;
	int		 fd;
	enum imsg_dialect d = IMSG_DIALECT_UNKNOWN;

	snprintf(path, sizeof(path), "/proc/%ld/exe", (long)peer);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return d;
	while (d == IMSG_DIALECT_UNKNOWN &&
	    (n = read(fd, buf + have, sizeof(buf) - have)) > 0) {
		have += (size_t)n;
		d = framing_version_dialect(buf, have, version, versionsz);
		if (have > overlap) {
			memmove(buf, buf + have - overlap, overlap);
			have = overlap;
		}
	}
	close(fd);
	return d;
}

void
framing_init(struct framing *f, enum framing_mode mode, pid_t peer)
{
	memset(f, 0, sizeof(*f));
	f->mode = mode;
	if (mode == FRAMING_AUTO)
		f->peer_guess = guess_from_binary(peer, f->peer_version,
		    sizeof(f->peer_version));
	if (f->peer_guess != IMSG_DIALECT_UNKNOWN)
		log_debug("debug: queue-fs-proc: peer is OpenSMTPD %s, "
		    "imsg dialect %s until a request says otherwise",
		    f->peer_version, imsg_dialect_name(f->peer_guess));
}

void
framing_saw(struct framing *f, enum imsg_dialect d)
{
	if (d == IMSG_DIALECT_UNKNOWN || d == f->seen)
		return;
	if (f->mode == FRAMING_AUTO)
		log_info("info: queue-fs-proc: peer speaks imsg dialect %s",
		    imsg_dialect_name(d));
	else if ((f->mode == FRAMING_A) != (d == IMSG_DIALECT_A))
		log_warnx("warn: queue-fs-proc: peer sent dialect %s, "
		    "answering in %s as configured", imsg_dialect_name(d),
		    f->mode == FRAMING_A ? "A" : "B");
	f->seen = d;
}

enum imsg_dialect
framing_dialect(struct framing *f)
{
	if (f->mode == FRAMING_A)
		return IMSG_DIALECT_A;
	if (f->mode == FRAMING_B)
		return IMSG_DIALECT_B;
	if (f->seen != IMSG_DIALECT_UNKNOWN)
		return f->seen;
	if (f->peer_guess != IMSG_DIALECT_UNKNOWN)
		return f->peer_guess;
	return IMSG_DIALECT_A;
}
