/*
 * libFuzzer harness: request decoding and dispatch (queue-fs-proc/
 * dispatch.c, proto/proc_queue.c, the store) against a real spool in a
 * temporary directory ($FUZZ_SPOOL_DIR, else /dev/shm, else /tmp; not
 * chrooted: the store is opened on a prepared directory fd, as the
 * daemon does after its chroot).
 *
 * Input (mkseeds.py): [options u8] then records [type u8][flags u8]
 * [len u16 big-endian][payload].  options: bit 0 -S none (else full),
 * bit 1 a 5% space reserve, bits 2-3 framing mode (auto, A, B, auto),
 * bit 4 the peer guess B.  flags: bit 0 attach an fd, bits 1-2 which
 * (0 a regular file with a message, 1 a pipe, 2 a directory, 3 an empty
 * regular file), bit 3 put an id seen in an earlier answer at the start
 * of the payload (a msgid for MESSAGE_* and ENVELOPE_CREATE, an evpid
 * for the other ENVELOPE_*), bits 4-6 which (0 the latest), bit 7 the
 * fd travelled with a dialect B mark.
 *
 * Record types 0xf0 and up are not requests but what a hostile or
 * damaged spool holds, done to the spool directly (the walk must cope):
 * 0xf0 remove the message file of a message (ref as above), 0xf1 a file
 * named by the payload in queue/ or a bucket, 0xf2 a symbolic link named
 * like an envelope in a message directory, 0xf3 an empty or oversized
 * envelope file, 0xf4 restart (store closed and opened again, so the
 * walk sees what this input made), 0xf5 a FIFO named like an envelope.
 *
 * Each input is a daemon life: the store is opened on the spool left by
 * the inputs before (so the walk finds their mail), requests go through
 * dispatch() with the daemon's imsgbuf on one end of a socketpair, and
 * the harness reads every answer on the other end like smtpd: exactly
 * one well-formed OK answer per request (pq_answer_decode), none after
 * a malformed request, which also ends the input as it ends the daemon.
 * The spool is wiped every SPOOL_RESET inputs, and no fd may be left
 * open once the store is closed that was not open before the input.
 */
#include <sys/types.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dispatch.h"
#include "fuzz_fds.h"
#include "imsg.h"
#include "proc_queue.h"

#define SPOOL_RESET	512
#define NREFS		8

static struct daemon	d;
static struct imsgbuf	peer;		/* smtpd's end */
static char		spool[128];
static int		spool_fd = -1, sv[2] = { -1, -1 };
static int		msgfile = -1, emptyfile = -1, baseline = -1;
static unsigned		inputs;
static uint32_t		msgids[NREFS];
static uint64_t		evpids[NREFS];
static unsigned		nmsg, nevp;

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *f)
{
	if (f->level == 0)
		return 0;
	return remove(path) == -1 && errno != ENOENT ? -1 : 0;
}

static void
make_spool(void)
{
	static const char *dirs[] = { "queue", "incoming", "corrupt",
	    "purge" };
	const char	*base = getenv("FUZZ_SPOOL_DIR");
	size_t		 i;

	if (spool[0] == '\0') {
		if (base == NULL)
			base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" :
			    "/tmp";
		snprintf(spool, sizeof(spool), "%s/qfp-fuzz.XXXXXX", base);
		if (mkdtemp(spool) == NULL)
			abort();
	} else {
		if (spool_fd != -1)
			close(spool_fd);
		nftw(spool, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	}
	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		char	path[256];

		snprintf(path, sizeof(path), "%s/%s", spool, dirs[i]);
		if (mkdir(path, 0700) == -1 && errno != EEXIST)
			abort();
	}
	if ((spool_fd = open(spool, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) ==
	    -1)
		abort();
	nmsg = nevp = 0;
}

static void
cleanup(void)
{
	if (spool[0] != '\0') {
		nftw(spool, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
		rmdir(spool);
	}
}

static void
setup_once(void)
{
	static const char content[] = "From: fuzz@example.org\r\n"
	    "Subject: fuzz\r\n\r\nbody\r\n";

	make_spool();
	atexit(cleanup);
	if ((msgfile = memfd_create("msg", MFD_CLOEXEC)) == -1 ||
	    write(msgfile, content, sizeof(content) - 1) !=
	    (ssize_t)sizeof(content) - 1)
		abort();
	if ((emptyfile = memfd_create("empty", MFD_CLOEXEC)) == -1)
		abort();
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1 ||
	    fcntl(sv[1], F_SETFL, O_NONBLOCK) == -1)
		abort();
}

static int
make_fd(int kind)
{
	int	p[2], fd;

	switch (kind) {
	case 0:
		/* O_RDONLY as smtpd sends it, own offset: reopen the memfd */
		{
			char	path[64];

			snprintf(path, sizeof(path), "/proc/self/fd/%d",
			    msgfile);
			if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
				fd = dup(msgfile);
			return fd;
		}
	case 1:
		if (pipe2(p, O_CLOEXEC) == -1)
			abort();
		close(p[1]);
		return p[0];
	case 2:
		return dup(spool_fd);
	default:
		return dup(emptyfile);
	}
}

/* The queued message's directory, "queue/XX/MSGID", from a ref. */
static void
msg_path(char *buf, size_t size, unsigned idx)
{
	uint32_t	id = nmsg ? msgids[(nmsg - 1 - idx % nmsg) % NREFS] :
			    0x01020304;

	snprintf(buf, size, "%s/queue/%02x/%08x", spool, id >> 24, id);
}

/* A file name from fuzz bytes: printable, no '/', never "." or "..". */
static void
fuzz_name(char *out, size_t size, const unsigned char *p, size_t len)
{
	size_t	i, n = len < size - 1 ? len : size - 1;

	for (i = 0; i < n; i++)
		out[i] = p[i] > ' ' && p[i] < 0x7f && p[i] != '/' ?
		    (char)p[i] : '_';
	out[n] = '\0';
	if (n == 0 || strcmp(out, ".") == 0 || strcmp(out, "..") == 0)
		snprintf(out, size, "junk");
}

static void
mischief(int op, unsigned idx, const unsigned char *p, size_t len,
    enum store_sync sync, int reserve)
{
	static char	big[PQ_EVP_MAX + 100];
	char		dir[256], path[512], name[64];
	uint64_t	evpid;
	int		fd;

	msg_path(dir, sizeof(dir), idx);
	evpid = nevp ? evpids[(nevp - 1 - idx % nevp) % NREFS] :
	    0x0102030405060708ULL;
	switch (op) {
	case 0xf0:
		snprintf(path, sizeof(path), "%s/message", dir);
		unlink(path);
		break;
	case 0xf1:
		fuzz_name(name, sizeof(name), p, len);
		if (len > 0 && p[0] & 1)
			snprintf(path, sizeof(path), "%s/queue/%s", spool,
			    name);
		else
			snprintf(path, sizeof(path), "%.*s/%s",
			    (int)(strrchr(dir, '/') - dir), dir, name);
		if (len > 1 && p[1] & 1)
			mkdir(path, 0700);
		else if ((fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC,
		    0600)) != -1)
			close(fd);
		break;
	case 0xf2:
		snprintf(path, sizeof(path), "%s/%016llx", dir,
		    (unsigned long long)((uint64_t)(evpid >> 32) << 32 |
		    (uint32_t)(evpid + 1)));
		(void)!symlink(len > 0 && p[0] & 1 ? "/etc/passwd" : "message",
		    path);
		break;
	case 0xf3:
		snprintf(path, sizeof(path), "%s/%016llx", dir,
		    (unsigned long long)evpid);
		if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
		    0600)) != -1) {
			if (len > 0 && p[0] & 1)
				(void)!write(fd, big, sizeof(big));
			close(fd);
		}
		break;
	case 0xf4:
		store_close(&d.store);
		if (store_open(&d.store, spool_fd, sync, reserve) == -1)
			abort();
		break;
	case 0xf5:
		snprintf(path, sizeof(path), "%s/%016llx", dir,
		    (unsigned long long)((uint64_t)(evpid >> 32) << 32 |
		    (uint32_t)(evpid + 2)));
		mkfifo(path, 0600);
		break;
	}
}

static void
remember(uint32_t type, const struct pq_answer *a)
{
	if (type == PQ_MESSAGE_CREATE && a->r == 1)
		msgids[nmsg++ % NREFS] = a->msgid;
	if ((type == PQ_ENVELOPE_CREATE && a->r == 1) ||
	    (type == PQ_ENVELOPE_WALK && a->r > 0))
		evpids[nevp++ % NREFS] = a->evpid;
}

/* smtpd's side: exactly one well-formed answer to a request of type. */
static void
read_answer(uint32_t type)
{
	struct pq_answer a;
	struct imsg	 m;
	int		 r, got = 0;
	ssize_t		 n;

	for (;;) {
		while ((r = imsgbuf_get(&peer, &m)) == 1) {
			if (got++ || m.hdr.type != PQ_OK ||
			    pq_answer_decode(type, m.data, m.datalen, m.fd,
			    &a) != PQ_ERR_NONE) {
				fprintf(stderr, "fuzz_dispatch: bad answer to "
				    "%s: type %u, %zu bytes, fd %d\n",
				    pq_type_name(type), m.hdr.type, m.datalen,
				    m.fd);
				abort();
			}
			remember(type, &a);
			if (m.fd != -1)
				close(m.fd);
		}
		if (r == -1)
			abort();
		n = imsgbuf_read(&peer);
		if (n == -1 && errno == EAGAIN)
			break;
		if (n <= 0)
			abort();
	}
	if (got != 1) {
		fprintf(stderr, "fuzz_dispatch: %d answers to %s\n", got,
		    pq_type_name(type));
		abort();
	}
}

static void
no_answer(void)
{
	char	c;

	if (recv(sv[1], &c, 1, MSG_DONTWAIT) != -1 || errno != EAGAIN)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static unsigned char	 buf[MAX_IMSGSIZE];
	struct imsg		 m;
	size_t			 off = 1, len;
	uint32_t		 type, id32;
	uint64_t		 id64;
	unsigned		 idx;
	int			 opt, flags, r;

	if (spool_fd == -1)
		setup_once();
	if (size < 1)
		return 0;
	if (++inputs % SPOOL_RESET == 0)
		make_spool();
	/* libFuzzer opens and closes fds of its own between inputs */
	baseline = fuzz_fd_count();
	opt = data[0];

	memset(&d.framing, 0, sizeof(d.framing));
	d.framing.mode = (opt >> 2 & 3) == 1 ? FRAMING_A :
	    (opt >> 2 & 3) == 2 ? FRAMING_B : FRAMING_AUTO;
	d.framing.peer_guess = opt & 16 ? IMSG_DIALECT_B : IMSG_DIALECT_A;
	imsgbuf_init(&d.ib, sv[0], framing_dialect(&d.framing));
	imsgbuf_init(&peer, sv[1], IMSG_DIALECT_A);
	if (store_open(&d.store, spool_fd, opt & 1 ? STORE_SYNC_NONE :
	    STORE_SYNC_FULL, opt & 2 ? 5 : 0) == -1)
		abort();

	while (off + 4 <= size) {
		type = data[off];
		flags = data[off + 1];
		len = (size_t)data[off + 2] << 8 | data[off + 3];
		off += 4;
		if (len > size - off)
			len = size - off;
		if (len > IMSG_DATA_MAX)
			len = IMSG_DATA_MAX;
		memcpy(buf, data + off, len);
		off += len;

		idx = (unsigned)flags >> 4 & 7;
		if (type >= 0xf0) {
			mischief((int)type, idx, buf, len, opt & 1 ?
			    STORE_SYNC_NONE : STORE_SYNC_FULL, opt & 2 ? 5 : 0);
			continue;
		}
		if (flags & 8 && len >= 4 && nmsg > 0 &&
		    (type == PQ_MESSAGE_DELETE || type == PQ_MESSAGE_COMMIT ||
		    type == PQ_MESSAGE_FD_R || type == PQ_ENVELOPE_CREATE)) {
			id32 = msgids[(nmsg - 1 - idx % nmsg) % NREFS];
			memcpy(buf, &id32, 4);
		}
		if (flags & 8 && len >= 8 && nevp > 0 &&
		    (type == PQ_ENVELOPE_DELETE || type == PQ_ENVELOPE_LOAD ||
		    type == PQ_ENVELOPE_UPDATE)) {
			id64 = evpids[(nevp - 1 - idx % nevp) % NREFS];
			memcpy(buf, &id64, 8);
		}

		memset(&m, 0, sizeof(m));
		m.hdr.type = type;
		m.hdr.len = (uint32_t)(len + IMSG_HEADER_SIZE);
		m.data = buf;
		m.datalen = len;
		m.fd = -1;
		if (flags & 1) {
			if ((m.fd = make_fd(flags >> 1 & 3)) == -1)
				abort();
			m.fd_dialect = flags & 0x80 ? IMSG_DIALECT_B :
			    IMSG_DIALECT_A;
		}
		r = dispatch(&d, &m);
		if (r == -1) {
			/* malformed: the daemon answers nothing and exits */
			no_answer();
			break;
		}
		read_answer(type);
	}

	store_close(&d.store);
	imsgbuf_clear(&peer);
	fuzz_fd_check("fuzz_dispatch", baseline);
	return 0;
}
