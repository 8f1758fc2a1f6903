/* SPDX-License-Identifier: MIT */
#include "scrub.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util.h"

/* Interactive histories that record what a builder typed (shells and the
 * usual REPLs), relative to a home folder. */
static const char *const history_files[] = {
        ".bash_history", ".zsh_history", ".sh_history", ".ash_history", ".history",
        ".local/share/fish/fish_history", ".python_history", ".mysql_history",
        ".psql_history", ".sqlite_history", ".lesshst",
};

static int note(struct kiln_scrub_report *rep, struct kiln_dentry *d, const char *what)
{
        char path[4096], *line;
        char **n = realloc(rep->lines, (rep->n + 1) * sizeof(*n));

        if (!n)
                return -ENOMEM;
        rep->lines = n;
        kiln_tree_path(d, path, sizeof(path));
        if (asprintf(&line, "%s (%s)", path, what) < 0)
                return -ENOMEM;
        rep->lines[rep->n++] = line;
        return 0;
}

static int remove_path(struct kiln_tree *t, const char *path, struct kiln_scrub_report *rep)
{
        struct kiln_dentry *d;

        if (kiln_tree_lookup(t, path, &d) < 0 || S_ISDIR(d->inode->mode))
                return 0;
        int r = note(rep, d, "removed");
        kiln_tree_remove(t, d);
        return r;
}

static int scrub_ssh(struct kiln_tree *t, struct kiln_scrub_report *rep)
{
        struct kiln_dentry *ssh;

        if (kiln_tree_lookup(t, "etc/ssh", &ssh) < 0 || !S_ISDIR(ssh->inode->mode))
                return 0;
        for (size_t i = 0; i < ssh->n_children;) {
                struct kiln_dentry *c = ssh->children[i];
                if (!strncmp(c->name, "ssh_host_", 9) && !S_ISDIR(c->inode->mode)) {
                        int r = note(rep, c, "removed");
                        if (r < 0)
                                return r;
                        kiln_tree_remove(t, c);
                        continue;
                }
                i++;
        }
        return 0;
}

/* Kept as an empty file: systemd treats that as "first boot, make one". */
static int scrub_machine_id(struct kiln_tree *t, struct kiln_scrub_report *rep)
{
        struct kiln_dentry *d;
        struct kiln_inode *in;

        if (kiln_tree_lookup(t, "etc/machine-id", &d) < 0 || !S_ISREG(d->inode->mode))
                return 0;
        in = d->inode;
        if (in->size == 0)
                return 0;
        in->size = 0;
        in->data = KILN_DATA_NONE;
        in->alloc_bytes = 0;
        in->n_segs = 0;
        return note(rep, d, "emptied");
}

static int scrub_histories(struct kiln_tree *t, const char *home, struct kiln_scrub_report *rep)
{
        for (size_t i = 0; i < ARRAY_SIZE(history_files); i++) {
                char path[4096];
                snprintf(path, sizeof(path), "%s/%s", home, history_files[i]);
                int r = remove_path(t, path, rep);
                if (r < 0)
                        return r;
        }
        return 0;
}

int kiln_scrub(struct kiln_tree *t, const struct kiln_scrub *rules, struct kiln_scrub_report *rep)
{
        int r = 0;

        if (rules->ssh_host_keys)
                r = scrub_ssh(t, rep);
        if (r >= 0 && rules->machine_id)
                r = scrub_machine_id(t, rep);
        if (r >= 0 && rules->dbus_machine_id)
                r = remove_path(t, "var/lib/dbus/machine-id", rep);
        if (r >= 0 && rules->shell_history) {
                struct kiln_dentry *home;
                r = scrub_histories(t, "root", rep);
                if (r >= 0 && kiln_tree_lookup(t, "home", &home) >= 0 && S_ISDIR(home->inode->mode)) {
                        for (size_t i = 0; i < home->n_children && r >= 0; i++) {
                                char path[512];
                                if (!S_ISDIR(home->children[i]->inode->mode))
                                        continue;
                                snprintf(path, sizeof(path), "home/%s", home->children[i]->name);
                                r = scrub_histories(t, path, rep);
                        }
                }
        }
        return r;
}

void kiln_scrub_report_free(struct kiln_scrub_report *rep)
{
        for (size_t i = 0; i < rep->n; i++)
                free(rep->lines[i]);
        free(rep->lines);
        rep->lines = NULL;
        rep->n = 0;
}
