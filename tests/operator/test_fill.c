/*
 * test_fill SPOOL USER NMSG NEVP: not a test but a helper of test-check.sh
 * and test-deb.sh (named test_* so that .gitignore keeps its binary out):
 * fill a spool through the real daemon, as smtpd would, with NMSG
 * messages of NEVP envelopes each, created while incoming, committed;
 * then stop the daemon.  Prints one line per message ("message MSGID")
 * and per envelope ("envelope EVPID").
 */
#include <sys/types.h>
#include <sys/wait.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "op_util.h"

int
main(int argc, char **argv)
{
	struct op_daemon d;
	char		 content[256], evp[128];
	uint64_t	 evpid;
	uint32_t	 msgid;
	int		 nmsg, nevp, i, j, fd, logfd, st;

	if (argc != 5) {
		fprintf(stderr, "usage: test_fill spool user nmsg nevp\n");
		return 2;
	}
	nmsg = atoi(argv[3]);
	nevp = atoi(argv[4]);
	if ((logfd = open("/dev/null", O_WRONLY)) == -1 ||
	    op_ensure_user(argv[2]) == -1 ||
	    op_start(&d, argv[1], argv[2], NULL, logfd) == -1 ||
	    pq_init(&d.c) != 1) {
		fprintf(stderr, "test_fill: cannot start the daemon\n");
		return 1;
	}
	for (i = 0; i < nmsg; i++) {
		snprintf(content, sizeof(content), "Subject: message %d\n\n"
		    "body of message %d\n", i, i);
		if (pq_message_create(&d.c, &msgid) != 1)
			goto fail;
		for (j = 0; j < nevp; j++) {
			snprintf(evp, sizeof(evp), "version: 3\nrcpt: r%d@"
			    "example.org\nmsg: %d\n", j, i);
			if (pq_envelope_create(&d.c, msgid, evp, strlen(evp),
			    &evpid) != 1)
				goto fail;
			printf("envelope %016llx\n", (unsigned long long)evpid);
		}
		if ((fd = qt_tmp_message(NULL, content,
		    strlen(content))) == -1 ||
		    pq_message_commit(&d.c, msgid, fd) != 1)
			goto fail;
		close(fd);
		printf("message %08x\n", msgid);
	}
	st = op_stop(&d, OP_TIMEOUT_MS);
	if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "test_fill: daemon did not exit cleanly\n");
		return 1;
	}
	return 0;
fail:
	fprintf(stderr, "test_fill: request failed\n");
	op_stop(&d, OP_TIMEOUT_MS);
	return 1;
}
