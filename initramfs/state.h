/* SPDX-License-Identifier: MIT */
/*
 * kiln-init's state files under ROOT/var/lib/kiln: instance-id (the last
 * instance whose first boot ran to its end) and the markers
 * instances/NAME/TASK.done of the tasks done once per instance.  A state
 * file is what makes work count as done, so it is written all or nothing
 * and durably: "NAME.tmp" beside it, written, fsync'd, renamed over NAME,
 * then the folder fsync'd.  On any failure the file is as it was before the
 * call (a marker that was absent is still absent, so its task runs again at
 * the next boot; instance-id keeps the previous instance), no temporary is
 * left, and the return is -errno with a message (kiln_last_error()) naming
 * the path.  No logging here: kiln-init logs.
 */
#ifndef KILN_INITRAMFS_STATE_H
#define KILN_INITRAMFS_STATE_H

#include <stddef.h>

/* Replace path with len bytes of data (mode 0644), as described above. */
int kiln_state_write(const char *path, const void *data, size_t len);

/* DIR/TASK.done, empty: TASK is done for the instance whose folder is DIR. */
int kiln_state_mark_done(const char *dir, const char *task);

/*
 * Fault injection for tests: the next kiln_state_write() fails at step with
 * -err (as if that system call had), then injection is off again.
 * KILN_STATE_FAIL_NONE turns it off.
 */
enum kiln_state_step {
        KILN_STATE_FAIL_NONE,
        KILN_STATE_FAIL_OPEN,     /* creating NAME.tmp */
        KILN_STATE_FAIL_WRITE,    /* writing it */
        KILN_STATE_FAIL_FSYNC,    /* fsync of NAME.tmp */
        KILN_STATE_FAIL_CLOSE,    /* close of NAME.tmp */
        KILN_STATE_FAIL_RENAME,   /* NAME.tmp -> NAME */
        KILN_STATE_FAIL_SYNC_DIR, /* fsync of the folder, after the rename */
};
void kiln_state_test_fail(enum kiln_state_step step, int err);

#endif
