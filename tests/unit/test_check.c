/*
 * In-process tests of check mode (spool_check, queue-fs-proc -n [-R])
 * on a temporary spool written by the store, as the queue user: a
 * clean spool passes with the right counts, each kind of damage is
 * reported, -n changes nothing, and -R moves what cannot be served to
 * corrupt/ (never deleting a file) and sets modes back.  See
 * unit_spool.h.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "store.h"
#include "unit_spool.h"

#define T(st)		((struct us_test *)*(st))

/* A line of out that starts with prefix and holds word (NULL: any). */
static int
has_line(const char *out, const char *prefix, const char *word)
{
	const char	*p, *e;
	size_t		 plen = strlen(prefix);

	for (p = out; *p != '\0'; p = *e ? e + 1 : e) {
		e = strchrnul(p, '\n');
		if (strncmp(p, prefix, plen) != 0)
			continue;
		if (word == NULL || memmem(p, (size_t)(e - p), word,
		    strlen(word)) != NULL)
			return 1;
	}
	return 0;
}

#define assert_line(out, prefix, word) do {				\
	if (!has_line(out, prefix, word))				\
		fail_msg("no line \"%s...%s\" in the output",		\
		    prefix, word ? word : "");				\
} while (0)

static void
test_check_fresh(void **state)
{
	char	*out;

	/* stopped: a running helper's log is live, and -n refuses it */
	us_store_close(T(state));
	assert_int_equal(us_check(T(state)->spool, 0, &out), 0);
	assert_line(out, "messages: 0", NULL);
	assert_line(out, "envelopes: 0", NULL);
	assert_line(out, "problems: 0", NULL);
	assert_line(out, "spool ", ": clean");
	free(out);
}

/* Counts: messages, envelopes and the bytes of both. */
static void
test_check_clean(void **state)
{
	struct us_test	*t = T(state);
	struct stat	 sb;
	uint64_t	 evpid[3];
	uint32_t	 msgid[2];
	long long	 bytes = 0;
	char		*out, want[64];
	int		 i;

	msgid[0] = us_message(&t->store, 2, evpid);
	msgid[1] = us_message(&t->store, 1, evpid + 2);
	us_store_close(t);
	for (i = 0; i < 3; i++) {
		assert_int_equal(lstat(us_evpfile(t->spool, evpid[i]), &sb), 0);
		bytes += sb.st_size;
	}
	for (i = 0; i < 2; i++) {
		assert_int_equal(lstat(us_msgfile(t->spool, msgid[i]), &sb), 0);
		bytes += sb.st_size;
	}
	assert_int_equal(us_check(t->spool, 0, &out), 0);
	assert_line(out, "messages: 2", NULL);
	assert_line(out, "envelopes: 3", NULL);
	snprintf(want, sizeof(want), "bytes: %lld", bytes);
	assert_line(out, want, NULL);
	assert_line(out, "problems: 0", NULL);
	assert_false(has_line(out, "problem:", NULL));
	assert_line(out, "spool ", ": clean");
	free(out);
}

/* Envelopes without a message file: found, and -n moves nothing. */
static void
test_check_no_message(void **state)
{
	struct us_test	*t = T(state);
	uint32_t	 msgid;
	char		*out;

	us_message(&t->store, 1, NULL);
	msgid = us_message(&t->store, 2, NULL);
	us_store_close(t);
	assert_int_equal(unlink(us_msgfile(t->spool, msgid)), 0);
	assert_int_equal(us_check(t->spool, 0, &out), 1);
	assert_line(out, "problem: ", "envelope without message");
	assert_line(out, "messages: 1", NULL);
	assert_line(out, "problems: 1", NULL);
	assert_line(out, "spool ", "NOT CLEAN");
	assert_int_equal(qt_count_entries(us_msgdir(t->spool, msgid)), 2);
	assert_int_equal(qt_count_entries(qt_pathf(t->spool, "corrupt")), 0);
	free(out);
}

/* Damage of every kind, each reported on its own line with its path. */
static void
test_check_problems(void **state)
{
	struct us_test	*t = T(state);
	uint64_t	 evpid[2];
	uint32_t	 msgid;
	char		*dir, *out;
	int		 before;

	msgid = us_message(&t->store, 2, evpid);
	us_store_close(t);
	dir = strdup(us_msgdir(t->spool, msgid));
	assert_int_equal(chmod(us_evpfile(t->spool, evpid[1]), 0644), 0);
	assert_int_equal(symlink(us_evpfile(t->spool, evpid[0]),
	    qt_pathf(dir, "%08x00000102", msgid)), 0);
	us_write(qt_pathf(dir, "%08x00000103", msgid), "", 0, 0600);
	us_write(qt_pathf(dir, "stray"), "x", 1, 0600);
	us_write(qt_pathf(t->spool, "incoming/leftover"), "x", 1, 0600);
	assert_int_equal(mkdir(qt_pathf(t->spool, "queue/zz"), 0700), 0);
	before = us_count_files(t->spool);

	assert_int_equal(us_check(t->spool, 0, &out), 1);
	assert_line(out, "problem: ", "wrong mode: 0644");
	assert_line(out, "problem: ", "symlink");
	assert_line(out, "problem: ", "empty envelope");
	assert_line(out, "problem: ", "/stray: bad name");
	assert_line(out, "problem: ", "incoming/leftover: leftover");
	assert_line(out, "problem: ", "queue/zz: bad name");
	assert_line(out, "problems: 6", NULL);
	/* -n changed nothing */
	assert_int_equal(us_count_files(t->spool), before);
	assert_int_equal(us_mode(us_evpfile(t->spool, evpid[1])) & 07777,
	    0644);
	assert_int_equal(qt_count_entries(qt_pathf(t->spool, "corrupt")), 0);
	free(out);
	free(dir);
}

/*
 * -R: what cannot be served goes to corrupt/ as it is, the mode is set
 * back, no file is lost, and the spool is clean afterwards.
 */
static void
test_check_repair(void **state)
{
	struct us_test	*t = T(state);
	uint64_t	 keep[2], lost;
	uint32_t	 good, broken;
	char		*dir, *out, *got, want[256];
	int		 before, fd;

	good = us_message(&t->store, 2, keep);
	broken = us_message(&t->store, 1, &lost);
	us_store_close(t);
	dir = strdup(us_msgdir(t->spool, good));
	assert_int_equal(unlink(us_msgfile(t->spool, broken)), 0);
	assert_int_equal(chmod(us_evpfile(t->spool, keep[1]), 0644), 0);
	us_write(qt_pathf(dir, "stray"), "stray text", 10, 0600);
	us_write(qt_pathf(t->spool, "incoming/leftover"), "x", 1, 0600);
	before = us_count_files(t->spool);

	assert_int_equal(us_check(t->spool, 1, &out), 0);
	assert_line(out, "moved: ", "corrupt/stray");
	assert_line(out, "fixed: ", "mode 0644 -> 0600");
	assert_line(out, "problems: 4 found", "0 remaining");
	assert_line(out, "messages: 1", NULL);
	assert_line(out, "envelopes: 2", NULL);
	assert_line(out, "spool ", ": clean");
	free(out);

	assert_int_equal(us_count_files(t->spool), before);
	assert_false(qt_exists(us_msgdir(t->spool, broken)));
	us_evp_text(lost, want, sizeof(want));
	got = us_read(qt_pathf(t->spool, "corrupt/%08x/%016llx", broken,
	    (unsigned long long)lost), NULL);
	assert_string_equal(got, want);
	free(got);
	got = us_read(qt_pathf(t->spool, "corrupt/stray"), NULL);
	assert_string_equal(got, "stray text");
	free(got);
	assert_true(qt_exists(qt_pathf(t->spool, "corrupt/leftover")));
	assert_int_equal(qt_count_entries(dir), 3);
	assert_int_equal(us_mode(us_evpfile(t->spool, keep[1])) & 07777,
	    0600);

	/* and the daemon serves what is left */
	us_store_open(t);
	assert_int_not_equal(fd = us_fd_r(&t->store, good), -1);
	close(fd);
	us_store_close(t);
	assert_int_equal(us_check(t->spool, 0, &out), 0);
	free(out);
	free(dir);
}

/* Two broken messages of the same name: the second gets a suffix. */
static void
test_check_repair_names(void **state)
{
	struct us_test	*t = T(state);
	uint32_t	 msgid;
	char		*out;

	msgid = us_message(&t->store, 1, NULL);
	us_store_close(t);
	assert_int_equal(unlink(us_msgfile(t->spool, msgid)), 0);
	assert_int_equal(mkdir(qt_pathf(t->spool, "corrupt/%08x", msgid),
	    0700), 0);
	assert_int_equal(us_check(t->spool, 1, &out), 0);
	assert_true(qt_exists(qt_pathf(t->spool, "corrupt/%08x", msgid)));
	assert_int_equal(qt_count_entries(qt_pathf(t->spool, "corrupt/%08x.1",
	    msgid)), 1);
	free(out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		ONE(test_check_fresh),
		ONE(test_check_clean),
		ONE(test_check_no_message),
		ONE(test_check_problems),
		ONE(test_check_repair),
		ONE(test_check_repair_names),
	};

	return us_run("test_check", tests, sizeof(tests) / sizeof(tests[0]));
}
