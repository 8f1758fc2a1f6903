/* SPDX-License-Identifier: MIT */
/*
 * SSH host keys for kiln-init's first boot: generated with OpenSSL's EVP
 * keygen, written the way ssh-keygen writes them (the unencrypted
 * "openssh-key-v1" private key and the one-line .pub), fingerprinted the
 * way `ssh-keygen -l` prints them, and put into a folder atomically.
 *
 * Only libc and libcrypto: this is linked into the static kiln-init.  Like
 * the rest of the library code it never prints or exits; failures are
 * -errno plus a one-line message (kiln_last_error()).  Private key material
 * never appears in a message.
 */
#ifndef KILN_INITRAMFS_SSHKEYS_H
#define KILN_INITRAMFS_SSHKEYS_H

#include <stddef.h>
#include <stdint.h>

enum kiln_sshkey_type {
        KILN_SSHKEY_ED25519,
        KILN_SSHKEY_ECDSA, /* NIST P-256 */
        KILN_SSHKEY_RSA,   /* 3072 bits; slow to generate, so only when asked */
        _KILN_SSHKEY_TYPE_MAX
};

/* Longest comment accepted; comments may not hold control characters. */
#define KILN_SSHKEY_COMMENT_MAX 255
/* Enough for any fingerprint line kiln_sshkey_fingerprint() makes. */
#define KILN_SSHKEY_FINGERPRINT_MAX (64 + KILN_SSHKEY_COMMENT_MAX)

/*
 * The type table.  to_string gives kiln's name ("ed25519", "ecdsa", "rsa")
 * and NULL for an out-of-range value; from_string returns the enum value or
 * -EINVAL.  ssh_name is the key type on the wire and in .pub files
 * ("ssh-ed25519", "ecdsa-sha2-nistp256", "ssh-rsa"), label what
 * `ssh-keygen -l` prints in parentheses ("ED25519", "ECDSA", "RSA") and
 * file_name sshd's default host key file ("ssh_host_ed25519_key").
 */
const char *kiln_sshkey_type_to_string(enum kiln_sshkey_type t);
int kiln_sshkey_type_from_string(const char *s);
const char *kiln_sshkey_type_ssh_name(enum kiln_sshkey_type t);
const char *kiln_sshkey_type_label(enum kiln_sshkey_type t);
const char *kiln_sshkey_type_file_name(enum kiln_sshkey_type t);

struct kiln_sshkey;

/* A fresh key pair from OpenSSL's default random generator. */
int kiln_sshkey_generate(enum kiln_sshkey_type type, struct kiln_sshkey **ret);
/* Frees the key; OpenSSL wipes the private material.  NULL is fine. */
void kiln_sshkey_free(struct kiln_sshkey *key);
enum kiln_sshkey_type kiln_sshkey_get_type(const struct kiln_sshkey *key);
/* The size `ssh-keygen -l` prints first: 256, 256, or the RSA modulus bits. */
unsigned kiln_sshkey_bits(const struct kiln_sshkey *key);

/*
 * Comments: NULL means "root@" + the current host name (gethostname()).
 * An empty comment is written the way ssh-keygen writes one, which leaves a
 * trailing space on the .pub line and makes `ssh-keygen -l` say "no comment".
 */

/* The public key blob (RFC 4253 section 6.6), malloc'd. */
int kiln_sshkey_public_blob(const struct kiln_sshkey *key, uint8_t **ret, size_t *ret_len);

/*
 * The private key file's text: "-----BEGIN OPENSSH PRIVATE KEY-----\n",
 * base64 wrapped at 70 columns, "-----END OPENSSH PRIVATE KEY-----\n".
 * Secret: release it with kiln_sshkey_secret_free(), which wipes it.
 */
int kiln_sshkey_private_text(const struct kiln_sshkey *key, const char *comment, char **ret);
void kiln_sshkey_secret_free(char *text);

/* The .pub file's one line, "TYPE BASE64 COMMENT\n", malloc'd. */
int kiln_sshkey_public_line(const struct kiln_sshkey *key, const char *comment, char **ret);

/*
 * What `ssh-keygen -l -f FILE.pub` prints, without the newline:
 * "256 SHA256:<base64 of SHA-256(blob), unpadded> COMMENT (ED25519)".
 * -ENOBUFS when buf (len bytes, NUL included) is too small.
 */
int kiln_sshkey_fingerprint(const struct kiln_sshkey *key, const char *comment, char *buf,
                            size_t len);

/*
 * Write ssh_host_<type>_key (0600) and ssh_host_<type>_key.pub (0644) into
 * a folder, owned by root:root when running as root.  Each file is written
 * to a temporary ".ssh_host_<type>_key[.pub].XXXXXXXX" created with
 * O_CREAT|O_EXCL|O_NOFOLLOW in the same folder, fsync'd, then both are
 * renamed into place (private key first) and the folder is fsync'd.  A
 * destination that is a symlink or not a regular file is refused before
 * anything is written; on any failure the temporaries are removed and the
 * message names the path.
 *
 * kiln_sshkey_write() opens dir with O_NOFOLLOW: a folder that is itself a
 * symlink is refused (-ELOOP).  kiln_sshkey_write_at() takes a folder opened
 * O_RDONLY|O_DIRECTORY (not O_PATH: it is fsync'd); dir_name is only for
 * messages.
 */
int kiln_sshkey_write(const struct kiln_sshkey *key, const char *dir, const char *comment);
int kiln_sshkey_write_at(const struct kiln_sshkey *key, int dirfd, const char *dir_name,
                         const char *comment);

/*
 * The console text cloud-init's keys_to_console module prints through its
 * write-ssh-key-fingerprints helper, for the keys given (sorted the way the
 * helper's glob /etc/ssh/ssh_host_*key.pub sorts their files: ecdsa,
 * ed25519, rsa), all with the same comment:
 *
 *     #############################################################
 *     -----BEGIN SSH HOST KEY FINGERPRINTS-----
 *     256 SHA256:... COMMENT (ECDSA)                  one `ssh-keygen -l` line per key
 *     -----END SSH HOST KEY FINGERPRINTS-----
 *     #############################################################
 *     -----BEGIN SSH HOST KEY KEYS-----
 *     ecdsa-sha2-nistp256 AAAA... COMMENT             each .pub line, as `cat` shows it
 *     -----END SSH HOST KEY KEYS-----
 *
 * cloud-init pipes the fingerprint half through `logger -s -t TAG`, so on
 * its console those lines carry the logger's prefix ("ec2: " in old
 * releases, "<14>Mon DD hh:mm:ss cloud-init: " in newer ones, after an
 * empty-message line); the key lines never do.  line_prefix, if not NULL,
 * is put before each fingerprint-half line, with the leading empty line
 * the helper echoes; NULL gives the text as above.  Public material only.
 */
int kiln_sshkey_console_text(const struct kiln_sshkey *const *keys, size_t n_keys,
                             const char *comment, const char *line_prefix, char **ret);

#endif
