/*
 * tap.h -- a minimal TAP producer for test programs that cannot use cmocka:
 * programs whose checks run before main or after it returns (constructors,
 * atexit handlers, destructors), programs that must not link anything but
 * the allocator (link and preload checks), and C++ programs.
 *
 * The harness runs every test through automake's tap-driver.sh, so output is
 * "1..N" then one "ok"/"not ok" line per check.  A check that does not apply
 * to this build is reported as "ok N # SKIP reason", never as a failure.
 * Output goes through write(2) on fd 1, never through stdio, so it is safe
 * in destructors and after fork, and it never allocates.
 */
#ifndef PYM_TEST_TAP_H
#define PYM_TEST_TAP_H

#ifdef __cplusplus
extern "C" {
#endif

/* Prints the plan line "1..count". */
void tap_plan(unsigned count);
/* Prints "ok N - name" when passed is non-zero, else "not ok N - name".
 * Returns passed, so a caller may stop early after a failure. */
int tap_check(int passed, const char *name);
/* Prints "ok N - name # SKIP reason". */
void tap_skip(const char *name, const char *reason);
/* Prints a diagnostic line "# text" (ignored by the driver, kept in the log). */
void tap_note(const char *text);
/* 0 when every check so far passed, else 1: the exit status to return. */
int tap_exit_status(void);

#ifdef __cplusplus
}
#endif
#endif /* PYM_TEST_TAP_H */
