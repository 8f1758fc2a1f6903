/* SPDX-License-Identifier: MIT */
/*
 * `kiln run`'s library: image metadata and block device mappings (json-c),
 * the EC2-like checks and merge, the QEMU command line, the run folder, and
 * what the serial console tells about the boot.  See launch.h.
 */
#include "launch.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <limits.h>
#include <linux/kvm.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "exec.h"
#include "imds.h"
#include "util.h"

#define GIB (UINT64_C(1) << 30)

static void json_putp(json_object **o)
{
        if (*o)
                json_object_put(*o);
}
#define _cleanup_json_ _cleanup_(json_putp)

static void free_str(char **s)
{
        free(*s);
        *s = NULL;
}

/* ------------------------------------------------------------ JSON input */

/* Parse a whole JSON text; errors name `what` and the byte offset. */
static int json_parse_text(const char *what, const char *buf, size_t len, json_object **ret)
{
        struct json_tokener *tok;
        json_object *o;
        enum json_tokener_error e;
        size_t end;

        if (len > INT_MAX)
                return kiln_errorf(-E2BIG, "%s: too large", what);
        tok = json_tokener_new_ex(16);
        if (!tok)
                return kiln_errorf(-ENOMEM, "out of memory");
        json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
        o = json_tokener_parse_ex(tok, buf, (int)len);
        e = json_tokener_get_error(tok);
        end = json_tokener_get_parse_end(tok);
        json_tokener_free(tok);
        if (e == json_tokener_continue || (!o && e == json_tokener_success)) {
                json_object_put(o);
                return kiln_errorf(-EBADMSG, "%s: bad JSON at offset %zu: unexpected end of input", what, len);
        }
        if (e != json_tokener_success) {
                json_object_put(o);
                return kiln_errorf(-EBADMSG, "%s: bad JSON at offset %zu: %s", what, end > 0 ? end - 1 : 0,
                                   json_tokener_error_desc(e));
        }
        for (size_t i = end; i < len; i++)
                if (!isspace((unsigned char)buf[i]) && buf[i] != 0) {
                        json_object_put(o);
                        return kiln_errorf(-EBADMSG, "%s: bad JSON at offset %zu: text after the value", what, i);
                }
        *ret = o;
        return 0;
}

static int json_want_string(const char *what, const char *at, json_object *v, char **ret)
{
        if (!json_object_is_type(v, json_type_string))
                return kiln_errorf(-EBADMSG, "%s: %s: expected a string", what, at);
        const char *s = json_object_get_string(v);
        if (strlen(s) != (size_t)json_object_get_string_len(v) || strlen(s) > 4096)
                return kiln_errorf(-EBADMSG, "%s: %s: bad string", what, at);
        char *d = strdup(s);
        if (!d)
                return kiln_errorf(-ENOMEM, "out of memory");
        free(*ret);
        *ret = d;
        return 0;
}

static int json_want_bool(const char *what, const char *at, json_object *v, bool *ret)
{
        if (!json_object_is_type(v, json_type_boolean))
                return kiln_errorf(-EBADMSG, "%s: %s: expected true or false", what, at);
        *ret = json_object_get_boolean(v);
        return 0;
}

/* A key as a message shows it: at most 40 bytes, anything but printable
 * ASCII as '?', so a message stays one line. */
static const char *key_shown(const char *key, char buf[48])
{
        size_t i;
        for (i = 0; key[i] && i < 40; i++)
                buf[i] = (unsigned char)key[i] >= 0x20 && (unsigned char)key[i] < 0x7f ? key[i] : '?';
        buf[i] = 0;
        return buf;
}

/* "/dev/sdf" or "sdf" (EC2 takes both for data volumes): lowercase letters,
 * digits and slashes; kept as "/dev/NAME". */
static int device_name_norm(const char *what, const char *at, const char *s, char **ret)
{
        const char *n = !strncmp(s, "/dev/", 5) ? s + 5 : s;
        size_t len = strlen(n);

        if (len == 0 || len > 32 || !islower((unsigned char)n[0]))
                return kiln_errorf(-EBADMSG, "%s: %s: bad device name '%s'", what, at, s);
        for (size_t i = 0; i < len; i++)
                if (!islower((unsigned char)n[i]) && !isdigit((unsigned char)n[i]))
                        return kiln_errorf(-EBADMSG, "%s: %s: bad device name '%s'", what, at, s);
        char *d;
        if (asprintf(&d, "/dev/%s", n) < 0)
                return kiln_errorf(-ENOMEM, "out of memory");
        free(*ret);
        *ret = d;
        return 0;
}

static int parse_ebs(const char *what, const char *at, json_object *o, struct kiln_bdm *b)
{
        char k[96], shown[48];

        if (!json_object_is_type(o, json_type_object))
                return kiln_errorf(-EBADMSG, "%s: %s.Ebs: expected an object", what, at);
        b->ebs = true;
        json_object_object_foreach(o, key, v)
        {
                int r = 0;
                snprintf(k, sizeof(k), "%s.Ebs.%s", at, key_shown(key, shown));
                if (!strcmp(key, "VolumeSize")) {
                        int64_t n;
                        if (!json_object_is_type(v, json_type_int) || (n = json_object_get_int64(v)) < 1 ||
                            n > KILN_VOLUME_GIB_MAX)
                                return kiln_errorf(-EBADMSG, "%s: %s: expected an integer from 1 to %u (GiB)",
                                                   what, k, KILN_VOLUME_GIB_MAX);
                        b->volume_size = (uint64_t)n;
                } else if (!strcmp(key, "VolumeType")) {
                        r = json_want_string(what, k, v, &b->volume_type);
                        if (r == 0 && kiln_volume_type_from_string(b->volume_type) < 0)
                                return kiln_errorf(-EBADMSG, "%s: %s: unknown volume type '%s'", what, k,
                                                   b->volume_type);
                } else if (!strcmp(key, "DeleteOnTermination")) {
                        bool d = true;
                        r = json_want_bool(what, k, v, &d);
                        b->delete_on_termination = d;
                } else if (!strcmp(key, "SnapshotId")) {
                        r = json_want_string(what, k, v, &b->snapshot_id);
                        if (r == 0 && strncmp(b->snapshot_id, "snap-", 5) &&
                            (strncmp(b->snapshot_id, "file:", 5) || !b->snapshot_id[5]))
                                return kiln_errorf(-EBADMSG, "%s: %s: expected 'snap-...' or 'file:PATH', not '%s'",
                                                   what, k, b->snapshot_id);
                } else if (!strcmp(key, "Encrypted")) {
                        bool d = false;
                        r = json_want_bool(what, k, v, &d); /* accepted; volumes stay plain files */
                } else if (!strcmp(key, "Iops") || !strcmp(key, "Throughput")) {
                        if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0)
                                return kiln_errorf(-EBADMSG, "%s: %s: expected a non-negative integer", what, k);
                } else if (!strcmp(key, "KmsKeyId") || !strcmp(key, "OutpostArn")) {
                        char *ignored = NULL;
                        r = json_want_string(what, k, v, &ignored);
                        free(ignored);
                } else {
                        return kiln_errorf(-EBADMSG, "%s: %s: unknown key", what, k);
                }
                if (r < 0)
                        return r;
        }
        return 0;
}

static int parse_mapping(const char *what, size_t idx, json_object *o, struct kiln_bdm *b)
{
        char at[32], k[96], shown[48];

        snprintf(at, sizeof(at), "[%zu]", idx);
        *b = (struct kiln_bdm){ .delete_on_termination = -1 };
        if (!json_object_is_type(o, json_type_object))
                return kiln_errorf(-EBADMSG, "%s: %s: expected an object", what, at);
        json_object_object_foreach(o, key, v)
        {
                int r = 0;
                snprintf(k, sizeof(k), "%s.%s", at, key_shown(key, shown));
                if (!strcmp(key, "DeviceName")) {
                        char *s = NULL;
                        r = json_want_string(what, k, v, &s);
                        if (r == 0)
                                r = device_name_norm(what, k, s, &b->device_name);
                        free(s);
                } else if (!strcmp(key, "VirtualName")) {
                        r = json_want_string(what, k, v, &b->virtual_name);
                        if (r == 0) {
                                const char *d = b->virtual_name + 9;
                                if (strncmp(b->virtual_name, "ephemeral", 9) || !*d || strlen(d) > 2 ||
                                    strspn(d, "0123456789") != strlen(d))
                                        return kiln_errorf(-EBADMSG, "%s: %s: expected 'ephemeralN', not '%s'",
                                                           what, k, b->virtual_name);
                        }
                } else if (!strcmp(key, "NoDevice")) {
                        /* The CLI sends "" ; a boolean true reads the same. */
                        if (json_object_is_type(v, json_type_string) ||
                            (json_object_is_type(v, json_type_boolean) && json_object_get_boolean(v)))
                                b->no_device = true;
                        else
                                return kiln_errorf(-EBADMSG, "%s: %s: expected \"\"", what, k);
                } else if (!strcmp(key, "Ebs")) {
                        r = parse_ebs(what, at, v, b);
                } else {
                        return kiln_errorf(-EBADMSG, "%s: %s: unknown key", what, k);
                }
                if (r < 0)
                        return r;
        }
        if (!b->device_name)
                return kiln_errorf(-EBADMSG, "%s: %s: no DeviceName", what, at);
        int kinds = b->ebs + !!b->virtual_name + b->no_device;
        if (kinds != 1)
                return kiln_errorf(-EBADMSG, "%s: %s (%s): want exactly one of Ebs, VirtualName, NoDevice", what, at,
                                   b->device_name);
        return 0;
}

static void bdm_free(struct kiln_bdm *b)
{
        free(b->device_name);
        free(b->virtual_name);
        free(b->volume_type);
        free(b->snapshot_id);
}

void kiln_bdm_list_free(struct kiln_bdm_list *l)
{
        if (!l)
                return;
        for (size_t i = 0; i < l->n; i++)
                bdm_free(&l->v[i]);
        free(l->v);
        *l = (struct kiln_bdm_list){ 0 };
}

static int bdm_from_json(const char *what, json_object *arr, struct kiln_bdm_list *ret)
{
        struct kiln_bdm_list l = { 0 };
        size_t n;
        int r;

        if (!json_object_is_type(arr, json_type_array))
                return kiln_errorf(-EBADMSG, "%s: expected an array of mappings", what);
        n = json_object_array_length(arr);
        if (n > KILN_BDM_MAX)
                return kiln_errorf(-E2BIG, "%s: %zu mappings, at most %d", what, n, KILN_BDM_MAX);
        l.v = calloc(n ? n : 1, sizeof(*l.v));
        if (!l.v)
                return kiln_errorf(-ENOMEM, "out of memory");
        for (size_t i = 0; i < n; i++) {
                r = parse_mapping(what, i, json_object_array_get_idx(arr, i), &l.v[i]);
                l.n = i + 1;
                if (r < 0)
                        goto fail;
                for (size_t j = 0; j < i; j++)
                        if (!strcmp(l.v[j].device_name, l.v[i].device_name)) {
                                r = kiln_errorf(-EBADMSG, "%s: [%zu]: device %s is mapped twice", what, i,
                                                l.v[i].device_name);
                                goto fail;
                        }
        }
        *ret = l;
        return 0;
fail:
        kiln_bdm_list_free(&l);
        return r;
}

int kiln_bdm_parse(const char *what, const char *buf, size_t len, struct kiln_bdm_list *ret)
{
        _cleanup_json_ json_object *o = NULL;
        int r;

        if (len > KILN_BDM_JSON_MAX)
                return kiln_errorf(-E2BIG, "%s: more than %u bytes", what, KILN_BDM_JSON_MAX);
        r = json_parse_text(what, buf, len, &o);
        if (r < 0)
                return r;
        return bdm_from_json(what, o, ret);
}

/* ------------------------------------------------------------ network interfaces */

void kiln_nic_spec_list_free(struct kiln_nic_spec_list *l)
{
        if (!l)
                return;
        for (size_t i = 0; i < l->n; i++)
                free(l->v[i].description);
        free(l->v);
        *l = (struct kiln_nic_spec_list){ 0 };
}

static int json_want_uint(const char *what, const char *at, json_object *v, unsigned max, const char *why,
                          unsigned *ret)
{
        int64_t n;

        if (!json_object_is_type(v, json_type_int) || (n = json_object_get_int64(v)) < 0 || n > max)
                return kiln_errorf(-EBADMSG, "%s: %s: expected an integer from 0 to %u%s", what, at, max, why);
        *ret = (unsigned)n;
        return 0;
}

/* "0A:1b:..." -> "0a:1b:..." in out; false unless six hex pairs, unicast, not all zero. */
static bool mac_parse(const char *s, char out[18])
{
        unsigned b[6];
        char tail;

        if (strlen(s) != 17 || sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &tail) != 6)
                return false;
        for (int i = 0; i < 6; i++)
                if (!isxdigit((unsigned char)s[3 * i]) || !isxdigit((unsigned char)s[3 * i + 1]) ||
                    (i < 5 && s[3 * i + 2] != ':'))
                        return false;
        if ((b[0] & 1) || !(b[0] | b[1] | b[2] | b[3] | b[4] | b[5]))
                return false;
        snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", b[0] & 0xffu, b[1] & 0xffu, b[2] & 0xffu,
                 b[3] & 0xffu, b[4] & 0xffu, b[5] & 0xffu);
        return true;
}

static int parse_nic(const char *what, size_t idx, json_object *o, struct kiln_nic_spec *n)
{
        char at[32], k[96], shown[48];
        bool have_index = false;

        snprintf(at, sizeof(at), "[%zu]", idx);
        *n = (struct kiln_nic_spec){ 0 };
        if (!json_object_is_type(o, json_type_object))
                return kiln_errorf(-EBADMSG, "%s: %s: expected an object", what, at);
        json_object_object_foreach(o, key, v)
        {
                int r;
                snprintf(k, sizeof(k), "%s.%s", at, key_shown(key, shown));
                if (!strcmp(key, "DeviceIndex")) {
                        r = json_want_uint(what, k, v, KILN_NIC_MAX - 1, "", &n->device_index);
                        have_index = true;
                } else if (!strcmp(key, "Description")) {
                        r = json_want_string(what, k, v, &n->description);
                        if (r == 0) {
                                size_t len = strlen(n->description);
                                bool ok = len <= KILN_NIC_DESCRIPTION_MAX;
                                for (size_t i = 0; ok && i < len; i++)
                                        ok = (unsigned char)n->description[i] >= 0x20 && n->description[i] != 0x7f;
                                if (!ok)
                                        return kiln_errorf(-EBADMSG, "%s: %s: expected at most %u printable characters",
                                                           what, k, KILN_NIC_DESCRIPTION_MAX);
                        }
                } else if (!strcmp(key, "Ipv6AddressCount")) {
                        r = json_want_uint(what, k, v, 1, " (a NIC gets at most its one SLAAC address)",
                                           &n->ipv6_count);
                } else if (!strcmp(key, "MacAddress")) {
                        _cleanup_free_ char *mac = NULL;
                        r = json_want_string(what, k, v, &mac);
                        if (r == 0 && !mac_parse(mac, n->mac))
                                return kiln_errorf(-EBADMSG, "%s: %s: expected a unicast MAC address (0a:1b:2c:3d:4e:5f)",
                                                   what, k);
                } else {
                        return kiln_errorf(-EBADMSG,
                                           "%s: %s: unknown key (kiln run takes DeviceIndex, Description, "
                                           "Ipv6AddressCount, MacAddress)",
                                           what, k);
                }
                if (r < 0)
                        return r;
        }
        if (!have_index)
                return kiln_errorf(-EBADMSG, "%s: %s: no DeviceIndex", what, at);
        return 0;
}

int kiln_nics_parse(const char *what, const char *buf, size_t len, struct kiln_nic_spec_list *ret)
{
        _cleanup_json_ json_object *arr = NULL;
        struct kiln_nic_spec_list l = { 0 };
        bool have0 = false;
        size_t n;
        int r;

        if (len > KILN_NIC_JSON_MAX)
                return kiln_errorf(-E2BIG, "%s: more than %u bytes", what, KILN_NIC_JSON_MAX);
        if ((r = json_parse_text(what, buf, len, &arr)) < 0)
                return r;
        if (!json_object_is_type(arr, json_type_array))
                return kiln_errorf(-EBADMSG, "%s: expected an array of network interfaces", what);
        n = json_object_array_length(arr);
        if (n > KILN_NIC_MAX)
                return kiln_errorf(-E2BIG, "%s: %zu network interfaces, at most %d", what, n, KILN_NIC_MAX);
        if (n == 0)
                return kiln_errorf(-EBADMSG, "%s: no network interfaces (DeviceIndex 0 is needed)", what);
        l.v = calloc(n, sizeof(*l.v));
        if (!l.v)
                return kiln_errorf(-ENOMEM, "out of memory");
        for (size_t i = 0; i < n; i++) {
                r = parse_nic(what, i, json_object_array_get_idx(arr, i), &l.v[i]);
                l.n = i + 1;
                if (r < 0)
                        goto fail;
                for (size_t j = 0; j < i; j++)
                        if (l.v[j].device_index == l.v[i].device_index) {
                                r = kiln_errorf(-EBADMSG, "%s: [%zu]: DeviceIndex %u is given twice", what, i,
                                                l.v[i].device_index);
                                goto fail;
                        }
                have0 |= l.v[i].device_index == 0;
        }
        if (!have0) {
                r = kiln_errorf(-EBADMSG, "%s: no DeviceIndex 0 (the primary network interface)", what);
                goto fail;
        }
        *ret = l;
        return 0;
fail:
        kiln_nic_spec_list_free(&l);
        return r;
}

int kiln_nics_count(unsigned n, struct kiln_nic_spec_list *ret)
{
        struct kiln_nic_spec_list l = { 0 };

        if (n < 1 || n > KILN_NIC_MAX)
                return kiln_errorf(-EINVAL, "--nics: expected a number from 1 to %d, not %u", KILN_NIC_MAX, n);
        l.v = calloc(n, sizeof(*l.v));
        if (!l.v)
                return kiln_errorf(-ENOMEM, "out of memory");
        for (unsigned i = 0; i < n; i++)
                l.v[i].device_index = i;
        l.n = n;
        *ret = l;
        return 0;
}

/* ------------------------------------------------------------ image metadata */

void kiln_image_free(struct kiln_image *img)
{
        if (!img)
                return;
        free(img->path);
        free(img->name);
        free(img->root_device);
        free(img->imds_support);
        free(img->default_user);
        kiln_bdm_list_free(&img->bdm);
        *img = (struct kiln_image){ 0 };
}

static int image_enum(const char *what, json_object *top, const char *key, int (*from)(const char *), int dflt,
                      int *ret)
{
        json_object *v;

        if (!json_object_object_get_ex(top, key, &v)) {
                if (dflt < 0)
                        return kiln_errorf(-EBADMSG, "%s: no %s", what, key);
                *ret = dflt;
                return 0;
        }
        if (!json_object_is_type(v, json_type_string) || (*ret = from(json_object_get_string(v))) < 0)
                return kiln_errorf(-EBADMSG, "%s: bad %s '%s'", what, key, json_object_get_string(v));
        return 0;
}

int kiln_image_parse(const char *path, const char *json, size_t len, const char *kjson, size_t klen, uint64_t size,
                     struct kiln_image *ret)
{
        _cleanup_json_ json_object *top = NULL, *ktop = NULL;
        _cleanup_free_ char *what = NULL, *kwhat = NULL, *rootdev = NULL, *bwhat = NULL;
        struct kiln_image img = { .size = size };
        json_object *v;
        int r, e;

        if (asprintf(&what, "%s.json", path) < 0 || asprintf(&kwhat, "%s.kiln.json", path) < 0)
                return kiln_errorf(-ENOMEM, "out of memory");
        r = json_parse_text(what, json, len, &top);
        if (r < 0)
                return r;
        if (!json_object_is_type(top, json_type_object))
                return kiln_errorf(-EBADMSG, "%s: expected an object", what);
        img.path = strdup(path);
        if (!img.path) {
                r = kiln_errorf(-ENOMEM, "out of memory");
                goto fail;
        }
        if (json_object_object_get_ex(top, "Name", &v) && (r = json_want_string(what, "Name", v, &img.name)) < 0)
                goto fail;
        if ((r = image_enum(what, top, "Architecture", kiln_arch_from_string, -1, &e)) < 0)
                goto fail;
        img.arch = e;
        if ((r = image_enum(what, top, "VirtualizationType", kiln_virt_from_string, KILN_VIRT_HVM, &e)) < 0)
                goto fail;
        img.virt = e;
        /* Without BootMode, EC2 starts x86_64 images with legacy BIOS. */
        if ((r = image_enum(what, top, "BootMode", kiln_boot_mode_from_string,
                            img.arch == KILN_ARCH_ARM64 ? KILN_BOOT_UEFI : KILN_BOOT_LEGACY_BIOS, &e)) < 0)
                goto fail;
        img.boot_mode = e;
        if (!json_object_object_get_ex(top, "RootDeviceName", &v)) {
                r = kiln_errorf(-EBADMSG, "%s: no RootDeviceName", what);
                goto fail;
        }
        if ((r = json_want_string(what, "RootDeviceName", v, &rootdev)) < 0 ||
            (r = device_name_norm(what, "RootDeviceName", rootdev, &img.root_device)) < 0)
                goto fail;
        if (!json_object_object_get_ex(top, "BlockDeviceMappings", &v)) {
                r = kiln_errorf(-EBADMSG, "%s: no BlockDeviceMappings", what);
                goto fail;
        }
        if (asprintf(&bwhat, "%s: BlockDeviceMappings", what) < 0) {
                r = kiln_errorf(-ENOMEM, "out of memory");
                goto fail;
        }
        if ((r = bdm_from_json(bwhat, v, &img.bdm)) < 0)
                goto fail;
        if (json_object_object_get_ex(top, "EnaSupport", &v) &&
            (r = json_want_bool(what, "EnaSupport", v, &img.ena_support)) < 0)
                goto fail;
        if (json_object_object_get_ex(top, "ImdsSupport", &v) &&
            (r = json_want_string(what, "ImdsSupport", v, &img.imds_support)) < 0)
                goto fail;
        if (kjson) {
                json_object *im, *f;
                if ((r = json_parse_text(kwhat, kjson, klen, &ktop)) < 0)
                        goto fail;
                if (json_object_object_get_ex(ktop, "image", &im) && json_object_is_type(im, json_type_object)) {
                        if (json_object_object_get_ex(im, "format", &f) && json_object_is_type(f, json_type_string) &&
                            strcmp(json_object_get_string(f), "raw")) {
                                r = kiln_errorf(-EOPNOTSUPP, "image '%s' is %s; kiln run boots raw images", path,
                                                json_object_get_string(f));
                                goto fail;
                        }
                        if (json_object_object_get_ex(im, "sha256", &f) && json_object_is_type(f, json_type_string) &&
                            json_object_get_string_len(f) == 64)
                                memcpy(img.sha256, json_object_get_string(f), 65);
                }
                if (json_object_object_get_ex(ktop, "cloud_init_lite", &im) && json_object_is_type(im, json_type_object) &&
                    json_object_object_get_ex(im, "default_user", &f) &&
                    (r = json_want_string(kwhat, "cloud_init_lite.default_user", f, &img.default_user)) < 0)
                        goto fail;
        }
        *ret = img;
        return 0;
fail:
        kiln_image_free(&img);
        return r;
}

int kiln_image_load(const char *path, struct kiln_image *ret)
{
        _cleanup_free_ char *jpath = NULL, *kpath = NULL;
        _cleanup_free_ uint8_t *json = NULL, *kjson = NULL;
        size_t len = 0, klen = 0;
        struct stat st;
        int r;

        if (stat(path, &st) < 0)
                return kiln_errorf(-errno, "cannot read image '%s': %s", path, strerror(errno));
        if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
                return kiln_errorf(-EINVAL, "image '%s' is not a file", path);
        if (asprintf(&jpath, "%s.json", path) < 0 || asprintf(&kpath, "%s.kiln.json", path) < 0)
                return kiln_errorf(-ENOMEM, "out of memory");
        r = read_full_file(jpath, KILN_IMAGE_JSON_MAX, &json, &len);
        if (r == -ENOENT)
                return kiln_errorf(r, "image '%s' has no metadata: '%s' is missing (kiln build writes it)", path,
                                   jpath);
        if (r < 0)
                return kiln_errorf(r, "cannot read '%s': %s", jpath, strerror(-r));
        r = read_full_file(kpath, KILN_IMAGE_JSON_MAX, &kjson, &klen);
        if (r < 0 && r != -ENOENT)
                return kiln_errorf(r, "cannot read '%s': %s", kpath, strerror(-r));
        return kiln_image_parse(path, (const char *)json, len, r < 0 ? NULL : (const char *)kjson, klen,
                                (uint64_t)st.st_size, ret);
}

/* ------------------------------------------------------------ the plan */

static void volume_free(struct kiln_volume *v)
{
        free(v->device_name);
        free(v->imds_name);
        free(v->volume_type);
        free(v->source);
        free(v->path);
}

void kiln_launch_free(struct kiln_launch *l)
{
        if (!l)
                return;
        for (size_t i = 0; i < l->n_vols; i++)
                volume_free(&l->vols[i]);
        free(l->vols);
        for (size_t i = 0; l->nics && i < l->n_nics; i++)
                free(l->nics[i].description);
        free(l->nics);
        *l = (struct kiln_launch){ 0 };
}

/* 17 hex digits of a derived identity. */
static void derive_hex17(const struct kiln_launch_req *req, const char *purpose, bool upper, char out[18])
{
        uint8_t u[16];

        derive_uuid(req->seed, req->seed_len, purpose, u);
        for (int i = 0; i < 17; i++) {
                unsigned nib = (i & 1) ? (u[i / 2] & 0xf) : (u[i / 2] >> 4);
                out[i] = (char)(upper ? "0123456789ABCDEF"[nib] : "0123456789abcdef"[nib]);
        }
        out[17] = 0;
}

static int bdm_copy(const struct kiln_bdm *s, struct kiln_bdm *d)
{
        *d = *s;
        d->device_name = s->device_name ? strdup(s->device_name) : NULL;
        d->virtual_name = s->virtual_name ? strdup(s->virtual_name) : NULL;
        d->volume_type = s->volume_type ? strdup(s->volume_type) : NULL;
        d->snapshot_id = s->snapshot_id ? strdup(s->snapshot_id) : NULL;
        if ((s->device_name && !d->device_name) || (s->virtual_name && !d->virtual_name) ||
            (s->volume_type && !d->volume_type) || (s->snapshot_id && !d->snapshot_id)) {
                bdm_free(d);
                return kiln_errorf(-ENOMEM, "out of memory");
        }
        return 0;
}

static int set_str(char **dst, const char *src)
{
        char *d = strdup(src);
        if (!d)
                return kiln_errorf(-ENOMEM, "out of memory");
        free(*dst);
        *dst = d;
        return 0;
}

/* EC2's merge: the image's list, launch entries override by DeviceName
 * (field by field for Ebs), NoDevice removes, new devices are appended. */
static int bdm_merge(const struct kiln_image *img, const struct kiln_bdm_list *launch, struct kiln_bdm_list *ret)
{
        struct kiln_bdm_list m = { 0 };
        size_t cap = img->bdm.n + (launch ? launch->n : 0);
        int r;

        m.v = calloc(cap ? cap : 1, sizeof(*m.v));
        if (!m.v)
                return kiln_errorf(-ENOMEM, "out of memory");
        for (size_t i = 0; i < img->bdm.n; i++) {
                if ((r = bdm_copy(&img->bdm.v[i], &m.v[m.n])) < 0)
                        goto fail;
                m.n++;
        }
        for (size_t i = 0; launch && i < launch->n; i++) {
                const struct kiln_bdm *b = &launch->v[i];
                struct kiln_bdm *t = NULL;
                for (size_t j = 0; j < m.n; j++)
                        if (!strcmp(m.v[j].device_name, b->device_name))
                                t = &m.v[j];
                bool is_root = !strcmp(b->device_name, img->root_device);
                if (b->no_device) {
                        if (is_root) {
                                r = kiln_errorf(-EINVAL, "the root device %s cannot be removed (NoDevice)",
                                                b->device_name);
                                goto fail;
                        }
                        if (t) {
                                bdm_free(t);
                                memmove(t, t + 1, (size_t)(&m.v[m.n] - (t + 1)) * sizeof(*t));
                                m.n--;
                        }
                        continue;
                }
                if (!t) {
                        if ((r = bdm_copy(b, &m.v[m.n])) < 0)
                                goto fail;
                        m.n++;
                        continue;
                }
                if (is_root && b->snapshot_id &&
                    (!t->snapshot_id || strcmp(t->snapshot_id, b->snapshot_id))) {
                        r = kiln_errorf(-EINVAL, "the root volume %s comes from the image; its SnapshotId cannot be changed",
                                        b->device_name);
                        goto fail;
                }
                if (is_root && !b->ebs) {
                        r = kiln_errorf(-EINVAL, "the root device %s must stay an EBS volume", b->device_name);
                        goto fail;
                }
                if (b->virtual_name || t->virtual_name != NULL) {
                        /* A different kind of mapping replaces the whole entry. */
                        struct kiln_bdm n;
                        if ((r = bdm_copy(b, &n)) < 0)
                                goto fail;
                        bdm_free(t);
                        *t = n;
                        continue;
                }
                t->ebs = true;
                if (b->volume_size)
                        t->volume_size = b->volume_size;
                if (b->delete_on_termination >= 0)
                        t->delete_on_termination = b->delete_on_termination;
                if (b->volume_type && (r = set_str(&t->volume_type, b->volume_type)) < 0)
                        goto fail;
                if (b->snapshot_id && (r = set_str(&t->snapshot_id, b->snapshot_id)) < 0)
                        goto fail;
        }
        *ret = m;
        return 0;
fail:
        kiln_bdm_list_free(&m);
        return r;
}

static const char *image_base(const struct kiln_image *img)
{
        const char *s = strrchr(img->path, '/');
        return s ? s + 1 : img->path;
}

static int check_type(const struct kiln_image *img, const struct kiln_launch_req *req,
                      const struct kiln_instance_type *t, enum kiln_boot_mode *ret_fw)
{
        const char *base = image_base(img);
        enum kiln_boot_mode mode = img->boot_mode;

        if (img->arch != t->arch)
                return kiln_errorf(-EINVAL, "image '%s' is %s but instance type %s is %s", base,
                                   kiln_arch_to_string(img->arch), t->name, kiln_arch_to_string(t->arch));
        if (img->virt == KILN_VIRT_PARAVIRTUAL) {
                if (t->hypervisor == KILN_HV_NITRO)
                        return kiln_errorf(-EINVAL, "image '%s' is paravirtual but instance type %s (nitro) runs hvm images only",
                                           base, t->name);
                return kiln_errorf(-EOPNOTSUPP, "image '%s' is paravirtual: QEMU cannot boot Xen PV images (hvm only)",
                                   base);
        }
        if (t->ena && !img->ena_support)
                return kiln_errorf(-EINVAL, "instance type %s requires ENA but image '%s' has EnaSupport false", t->name,
                                   base);
        if (req->boot_mode) {
                int m = kiln_boot_mode_from_string(req->boot_mode);
                if (m < 0)
                        return kiln_errorf(-EINVAL, "unknown boot mode '%s' (legacy-bios, uefi, uefi-preferred)",
                                           req->boot_mode);
                if ((img->boot_mode == KILN_BOOT_LEGACY_BIOS && m != KILN_BOOT_LEGACY_BIOS) ||
                    (img->boot_mode == KILN_BOOT_UEFI && m != KILN_BOOT_UEFI))
                        return kiln_errorf(-EINVAL, "image '%s' boots %s only; --boot-mode %s cannot start it", base,
                                           kiln_boot_mode_to_string(img->boot_mode), req->boot_mode);
                mode = m;
        }
        if (!kiln_instance_type_boots(t, mode))
                return kiln_errorf(-EINVAL, "instance type %s (%s) cannot boot %s; image '%s' needs it", t->name,
                                   kiln_hypervisor_to_string(t->hypervisor), kiln_boot_mode_to_string(mode), base);
        if (t->arch != KILN_ARCH_X86_64)
                return kiln_errorf(-EOPNOTSUPP, "instance type %s is %s: kiln run starts x86_64 instances only", t->name,
                                   kiln_arch_to_string(t->arch));
        if (mode == KILN_BOOT_UEFI_PREFERRED)
                mode = t->hypervisor == KILN_HV_NITRO ? KILN_BOOT_UEFI : KILN_BOOT_LEGACY_BIOS;
        *ret_fw = mode;
        return 0;
}

static int add_volume(struct kiln_launch *l, enum kiln_vol_kind kind, const char *dev, const char *imds_name)
{
        struct kiln_volume *v = &l->vols[l->n_vols];

        *v = (struct kiln_volume){ .kind = kind, .delete_on_termination = true };
        v->device_name = strdup(dev);
        v->imds_name = strdup(imds_name);
        l->n_vols++;
        if (!v->device_name || !v->imds_name)
                return kiln_errorf(-ENOMEM, "out of memory");
        return 0;
}

static int ebs_volume(struct kiln_launch *l, const struct kiln_launch_req *req, const struct kiln_bdm *b,
                      enum kiln_vol_kind kind, const char *imds_name)
{
        char hex[18], purpose[64];
        int r = add_volume(l, kind, b->device_name, imds_name);
        struct kiln_volume *v = &l->vols[l->n_vols - 1];

        if (r < 0)
                return r;
        snprintf(purpose, sizeof(purpose), "volume %s", b->device_name);
        derive_hex17(req, purpose, false, hex);
        snprintf(v->id, sizeof(v->id), "vol-%s", hex);
        snprintf(v->serial, sizeof(v->serial), "vol%s", hex);
        v->size_gib = b->volume_size;
        v->delete_on_termination = b->delete_on_termination != 0;
        v->qcow2 = true;
        if ((r = set_str(&v->volume_type, b->volume_type ? b->volume_type : "gp2")) < 0)
                return r;
        if (b->snapshot_id && kind != KILN_VOL_ROOT) {
                if (strncmp(b->snapshot_id, "file:", 5))
                        return kiln_errorf(-EOPNOTSUPP,
                                           "mapping %s: snapshot '%s' is not available locally (use \"file:PATH\" of a raw file)",
                                           b->device_name, b->snapshot_id);
                if ((r = set_str(&v->source, b->snapshot_id + 5)) < 0)
                        return r;
        } else if (kind != KILN_VOL_ROOT && !b->volume_size) {
                return kiln_errorf(-EINVAL, "mapping %s: Ebs needs a VolumeSize (or SnapshotId \"file:PATH\")",
                                   b->device_name);
        }
        return 0;
}

/* A MAC from the seed: 0a:xx:xx:xx:xx:xx, locally administered (bit 1 of
 * the first byte) and unicast (bit 0 clear).  DeviceIndex 0 keeps the
 * derivation a single NIC always had. */
static void derive_mac(const struct kiln_launch_req *req, unsigned index, unsigned attempt, char out[18])
{
        char purpose[32];
        uint8_t u[16];

        if (index == 0 && attempt == 0)
                snprintf(purpose, sizeof(purpose), "mac");
        else
                snprintf(purpose, sizeof(purpose), "mac %u/%u", index, attempt);
        derive_uuid(req->seed, req->seed_len, purpose, u);
        snprintf(out, 18, "0a:%02x:%02x:%02x:%02x:%02x", u[0], u[1], u[2], u[3], u[4]);
}

/* The NICs of the launch, by DeviceIndex: addresses, MACs, identities. */
static int plan_nics(struct kiln_launch *l, const struct kiln_launch_req *req)
{
        static const struct kiln_nic_spec one = { .device_index = 0 };
        const struct kiln_nic_spec *spec = req->nics ? req->nics->v : &one;
        const struct kiln_nic_spec *by_index[KILN_NIC_MAX] = { NULL };
        size_t n = req->nics ? req->nics->n : 1;
        char hex[18], purpose[32];

        if (n == 0 || n > KILN_NIC_MAX)
                return kiln_errorf(-EINVAL, "a launch takes 1 to %d network interfaces, not %zu", KILN_NIC_MAX, n);
        for (size_t i = 0; i < n; i++) {
                unsigned k = spec[i].device_index;
                if (k >= l->type->max_enis)
                        return kiln_errorf(-EINVAL,
                                           "network interface DeviceIndex %u: instance type %s takes %u network interfaces (DeviceIndex 0 to %u)",
                                           k, l->type->name, l->type->max_enis, l->type->max_enis - 1);
                if (k >= KILN_NIC_MAX || by_index[k])
                        return kiln_errorf(-EINVAL, "network interface DeviceIndex %u is given twice", k);
                if (spec[i].ipv6_count > 1)
                        return kiln_errorf(-EOPNOTSUPP,
                                           "network interface DeviceIndex %u: Ipv6AddressCount %u: kiln run gives a NIC at most one IPv6 address",
                                           k, spec[i].ipv6_count);
                by_index[k] = &spec[i];
        }
        if (!by_index[0])
                return kiln_errorf(-EINVAL, "no network interface with DeviceIndex 0 (the primary)");
        l->nics = calloc(n, sizeof(*l->nics));
        if (!l->nics)
                return kiln_errorf(-ENOMEM, "out of memory");
        for (unsigned k = 0; k < KILN_NIC_MAX; k++) {
                const struct kiln_nic_spec *sp = by_index[k];
                if (!sp)
                        continue;
                struct kiln_nic *c = &l->nics[l->n_nics++];
                char dashed[16];
                c->device_index = k;
                if (sp->description && !(c->description = strdup(sp->description)))
                        return kiln_errorf(-ENOMEM, "out of memory");
                /* A MAC of its own, distinct from the others' (given or derived). */
                if (sp->mac[0]) {
                        memcpy(c->mac, sp->mac, sizeof(c->mac));
                        for (size_t j = 0; j + 1 < l->n_nics; j++)
                                if (!strcmp(l->nics[j].mac, c->mac))
                                        return kiln_errorf(-EINVAL, "network interface DeviceIndex %u: MacAddress %s is "
                                                                    "another interface's", k, c->mac);
                }
                for (unsigned attempt = 0; !sp->mac[0]; attempt++) {
                        bool clash = false;
                        derive_mac(req, k, attempt, c->mac);
                        for (unsigned m = 0; m < KILN_NIC_MAX; m++)
                                clash |= by_index[m] && !strcmp(by_index[m]->mac, c->mac);
                        for (size_t j = 0; j + 1 < l->n_nics; j++)
                                clash |= !strcmp(l->nics[j].mac, c->mac);
                        if (!clash)
                                break;
                }
                snprintf(purpose, sizeof(purpose), "eni %u", k);
                derive_hex17(req, purpose, false, hex);
                snprintf(c->interface_id, sizeof(c->interface_id), "eni-%s", hex);
                snprintf(purpose, sizeof(purpose), "subnet %u", k);
                derive_hex17(req, purpose, false, hex);
                snprintf(c->subnet_id, sizeof(c->subnet_id), "subnet-%s", hex);
                if (k == 0) {
                        snprintf(c->net, sizeof(c->net), "%s", KILN_GUEST_NET);
                        snprintf(c->host, sizeof(c->host), "%s", KILN_GUEST_HOST);
                        snprintf(c->ipv4, sizeof(c->ipv4), "%s", KILN_GUEST_IPV4);
                } else {
                        snprintf(c->net, sizeof(c->net), "100.64.%u.0/20", 16 * k);
                        snprintf(c->host, sizeof(c->host), "100.64.%u.1", 16 * k);
                        snprintf(c->ipv4, sizeof(c->ipv4), "100.64.%u.15", 16 * k);
                }
                snprintf(dashed, sizeof(dashed), "%s", c->ipv4);
                for (char *p = dashed; *p; p++)
                        if (*p == '.')
                                *p = '-';
                snprintf(c->hostname, sizeof(c->hostname), "ip-%s.ec2.internal", dashed);
                if (sp->ipv6_count) {
                        /* fd00:ec2:0:k::/64, and the EUI-64 of the MAC: its
                         * universal/local bit flipped, ff:fe in the middle. */
                        struct in6_addr a = { .s6_addr = { 0xfd, 0x00, 0x0e, 0xc2, 0, 0, 0, (uint8_t)k } };
                        unsigned m[6];
                        char buf[INET6_ADDRSTRLEN];
                        if (!inet_ntop(AF_INET6, &a, buf, sizeof(buf)) ||
                            sscanf(c->mac, "%x:%x:%x:%x:%x:%x", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5]) != 6)
                                return kiln_errorf(-EINVAL, "cannot make an IPv6 address for %s", c->mac);
                        snprintf(c->ipv6_net, sizeof(c->ipv6_net), "%s/64", buf);
                        const uint8_t eui[8] = { (uint8_t)(m[0] ^ 0x02), (uint8_t)m[1], (uint8_t)m[2], 0xff, 0xfe,
                                                 (uint8_t)m[3], (uint8_t)m[4], (uint8_t)m[5] };
                        memcpy(a.s6_addr + 8, eui, 8);
                        if (!inet_ntop(AF_INET6, &a, c->ipv6, sizeof(c->ipv6)))
                                return kiln_errorf(-EINVAL, "cannot make an IPv6 address for %s", c->mac);
                }
        }
        derive_hex17(req, "vpc", false, hex);
        snprintf(l->vpc_id, sizeof(l->vpc_id), "vpc-%s", hex);
        derive_hex17(req, "security group", false, hex);
        snprintf(l->security_group_id, sizeof(l->security_group_id), "sg-%s", hex);
        return 0;
}

int kiln_launch_plan(const struct kiln_image *img, const struct kiln_launch_req *req, struct kiln_launch *ret)
{
        const char *tname = req->instance_type ? req->instance_type : KILN_DEFAULT_INSTANCE_TYPE;
        struct kiln_launch l = { 0 };
        struct kiln_bdm_list m = { 0 };
        const struct kiln_bdm *root = NULL;
        char hex[18];
        uint8_t u[16];
        int r;

        l.type = kiln_instance_type_find(tname);
        if (!l.type)
                return kiln_errorf(-EINVAL, "unknown instance type '%s' (kiln-run(1) lists the known ones)", tname);
        if ((r = check_type(img, req, l.type, &l.firmware)) < 0)
                return r;
        if ((r = bdm_merge(img, req->bdm, &m)) < 0)
                return r;
        for (size_t i = 0; i < m.n; i++)
                if (!strcmp(m.v[i].device_name, img->root_device))
                        root = &m.v[i];
        if (!root || !root->ebs) {
                r = kiln_errorf(-EINVAL, "image '%s' has no EBS mapping for its root device %s", image_base(img),
                                img->root_device);
                goto fail;
        }
        /* The image's own root size is the floor: a launch may only grow it. */
        uint64_t floor_gib = DIV_ROUND_UP(img->size, GIB);
        for (size_t i = 0; i < img->bdm.n; i++)
                if (!strcmp(img->bdm.v[i].device_name, img->root_device))
                        floor_gib = MAX(floor_gib, img->bdm.v[i].volume_size);
        uint64_t root_gib = root->volume_size ? root->volume_size : floor_gib;
        if (root_gib < floor_gib) {
                r = kiln_errorf(-EINVAL, "root volume %s of %" PRIu64 " GiB is smaller than image '%s' (%" PRIu64 " GiB)",
                                img->root_device, root_gib, image_base(img), floor_gib);
                goto fail;
        }

        l.vols = calloc(m.n + l.type->store_count + 1, sizeof(*l.vols));
        if (!l.vols) {
                r = kiln_errorf(-ENOMEM, "out of memory");
                goto fail;
        }
        if ((r = ebs_volume(&l, req, root, KILN_VOL_ROOT, "root")) < 0)
                goto fail;
        l.vols[0].size_gib = root_gib;
        if ((r = set_str(&l.vols[0].source, img->path)) < 0)
                goto fail;
        unsigned nebs = 0;
        for (size_t i = 0; i < m.n; i++) {
                char name[16];
                if (&m.v[i] == root || !m.v[i].ebs)
                        continue;
                snprintf(name, sizeof(name), "ebs%u", ++nebs);
                if ((r = ebs_volume(&l, req, &m.v[i], KILN_VOL_EBS, name)) < 0)
                        goto fail;
        }
        /* Instance store: as many as the type has; an ephemeralN mapping names
         * its device, mappings beyond the type's count are ignored (as EC2 does). */
        for (unsigned k = 0; k < l.type->store_count; k++) {
                char name[24], dev[16], purpose[32];
                snprintf(name, sizeof(name), "ephemeral%u", k);
                snprintf(dev, sizeof(dev), "/dev/sd%c", 'b' + k);
                const char *d = dev;
                for (size_t i = 0; i < m.n; i++)
                        if (m.v[i].virtual_name && !strcmp(m.v[i].virtual_name, name))
                                d = m.v[i].device_name;
                if ((r = add_volume(&l, KILN_VOL_STORE, d, name)) < 0)
                        goto fail;
                struct kiln_volume *v = &l.vols[l.n_vols - 1];
                snprintf(purpose, sizeof(purpose), "instance store %u", k);
                derive_hex17(req, purpose, true, hex);
                snprintf(v->serial, sizeof(v->serial), "AWS%s", hex);
                v->size_gib = l.type->store_gib;
        }

        derive_hex17(req, "instance-id", false, hex);
        snprintf(l.instance_id, sizeof(l.instance_id), "i-%s", hex);
        {
                struct kiln_launch_req ami = { .seed = (const uint8_t *)(img->sha256[0] ? img->sha256 : img->path) };
                ami.seed_len = strlen((const char *)ami.seed);
                derive_hex17(&ami, "ami-id", false, hex);
                snprintf(l.ami_id, sizeof(l.ami_id), "ami-%s", hex);
        }
        derive_uuid(req->seed, req->seed_len, "system-uuid", u);
        u[0] = 0xec;
        u[1] = (uint8_t)(0x20 | (u[1] & 0x0f));
        format_uuid(u, l.uuid);
        if ((r = plan_nics(&l, req)) < 0)
                goto fail;
        l.imds_v1 = !img->imds_support || strcmp(img->imds_support, "v2.0");
        l.ena_support = img->ena_support;
        kiln_bdm_list_free(&m);
        *ret = l;
        return 0;
fail:
        kiln_bdm_list_free(&m);
        kiln_launch_free(&l);
        return r;
}

int kiln_launch_paths(struct kiln_launch *l, const char *run_dir, const char *vol_dir)
{
        for (size_t i = 0; i < l->n_vols; i++) {
                struct kiln_volume *v = &l->vols[i];
                const char *dir = v->delete_on_termination ? run_dir : (vol_dir ? vol_dir : ".");
                char *p;
                int n;
                if (v->kind == KILN_VOL_STORE)
                        n = asprintf(&p, "%s/%s-%s.raw", run_dir, v->imds_name, v->serial);
                else
                        n = asprintf(&p, "%s/%s.qcow2", dir, v->id);
                if (n < 0)
                        return kiln_errorf(-ENOMEM, "out of memory");
                free(v->path);
                v->path = p;
        }
        return 0;
}

/* ------------------------------------------------------------ QEMU's argv */

bool kiln_path_is_shell_safe(const char *p)
{
        if (!p || !*p)
                return false;
        for (; *p; p++)
                if (!isalnum((unsigned char)*p) && !strchr("/._+-", *p))
                        return false;
        return true;
}

struct argv_b {
        char **v;
        size_t n, cap;
        bool failed;
};

static void _printf_(2, 3) arg(struct argv_b *a, const char *fmt, ...)
{
        va_list ap;
        char *s;

        if (a->failed)
                return;
        if (a->n + 2 > a->cap) {
                size_t cap = a->cap ? a->cap * 2 : 64;
                char **n = realloc(a->v, cap * sizeof(*n));
                if (!n) {
                        a->failed = true;
                        return;
                }
                a->v = n;
                a->cap = cap;
        }
        va_start(ap, fmt);
        if (vasprintf(&s, fmt, ap) < 0) {
                a->failed = true;
                s = NULL;
        }
        va_end(ap);
        if (!s)
                return;
        a->v[a->n++] = s;
        a->v[a->n] = NULL;
}

/* A value inside a QEMU "key=value,..." option: commas doubled. */
static char *qemu_opt_escape(const char *s)
{
        size_t n = 0;
        for (const char *p = s; *p; p++)
                n += *p == ',' ? 2 : 1;
        char *d = malloc(n + 1), *q = d;
        if (!d)
                return NULL;
        for (const char *p = s; *p; p++) {
                *q++ = *p;
                if (*p == ',')
                        *q++ = ',';
        }
        *q = 0;
        return d;
}

void kiln_argv_free(char **argv)
{
        if (!argv)
                return;
        for (char **p = argv; *p; p++)
                free(*p);
        free(argv);
}

int kiln_launch_qemu_argv(const struct kiln_launch *l, const struct kiln_qemu_env *env, char ***ret)
{
        struct argv_b a = { 0 };
        const struct kiln_instance_type *t = l->type;

        if (!kiln_path_is_shell_safe(env->kiln) || !kiln_path_is_shell_safe(env->imds_dir))
                return kiln_errorf(-EINVAL, "cannot start the IMDS: '%s imds serve %s' is not a safe shell command",
                                   env->kiln ? env->kiln : "", env->imds_dir ? env->imds_dir : "");
        arg(&a, "%s", env->qemu ? env->qemu : "qemu-system-x86_64");
        arg(&a, "-nodefaults");
        arg(&a, "-no-user-config");
        arg(&a, "-name");
        arg(&a, "%s", l->instance_id);
        arg(&a, "-machine");
        arg(&a, "q35");
        arg(&a, "-accel");
        arg(&a, "%s", env->kvm ? "kvm" : "tcg");
        if (env->kvm) {
                arg(&a, "-cpu");
                arg(&a, "host");
        }
        arg(&a, "-smp");
        arg(&a, "%u", t->vcpus);
        arg(&a, "-m");
        arg(&a, "%u", t->memory_mib);
        arg(&a, "-display");
        arg(&a, "none");
        arg(&a, "-chardev");
        arg(&a, "stdio,id=console,signal=off");
        arg(&a, "-serial");
        arg(&a, "chardev:console");
        if (env->monitor) {
                _cleanup_free_ char *m = qemu_opt_escape(env->monitor);
                arg(&a, "-monitor");
                if (m)
                        arg(&a, "unix:%s,server=on,wait=off", m);
                else
                        a.failed = true;
        }
        if (l->firmware == KILN_BOOT_UEFI) {
                _cleanup_free_ char *code = qemu_opt_escape(env->ovmf_code ? env->ovmf_code : KILN_OVMF_CODE);
                _cleanup_free_ char *vars = env->ovmf_vars ? qemu_opt_escape(env->ovmf_vars) : NULL;
                if (!code || !vars) {
                        kiln_argv_free(a.v);
                        return kiln_errorf(-EINVAL, "uefi firmware needs a private copy of the OVMF variables");
                }
                arg(&a, "-drive");
                arg(&a, "if=pflash,format=raw,unit=0,readonly=on,file=%s", code);
                arg(&a, "-drive");
                arg(&a, "if=pflash,format=raw,unit=1,file=%s", vars);
        }
        /* Nitro's DMI: what kiln-init and cloud-init read to know they are on EC2. */
        _cleanup_free_ char *tname = qemu_opt_escape(t->name);
        arg(&a, "-smbios");
        arg(&a, "type=0,vendor=Amazon EC2,version=1.0");
        arg(&a, "-smbios");
        /* With a seed, the serial number says so, cloud-init's SMBIOS
         * convention: the guest waits for the seed instead of asking the IMDS. */
        arg(&a, "type=1,manufacturer=Amazon EC2,product=%s,uuid=%s%s", tname ? tname : "", l->uuid,
            env->seed ? ",serial=ds=nocloud" : "");
        arg(&a, "-smbios");
        arg(&a, "type=2,manufacturer=Amazon EC2,asset=%s", l->instance_id);
        arg(&a, "-smbios");
        arg(&a, "type=3,manufacturer=Amazon EC2,asset=Amazon EC2");
        /* Disks in EC2's order: root, EBS, instance store; fixed PCI slots keep it. */
        unsigned slot = 0x10;
        for (size_t i = 0; i < l->n_vols; i++, slot++) {
                const struct kiln_volume *v = &l->vols[i];
                _cleanup_free_ char *p = v->path ? qemu_opt_escape(v->path) : NULL;
                if (!p) {
                        kiln_argv_free(a.v);
                        return kiln_errorf(-EINVAL, "volume %s has no file", v->device_name);
                }
                arg(&a, "-drive");
                arg(&a, "file=%s,if=none,id=vol%zu,format=%s,discard=unmap", p, i, v->qcow2 ? "qcow2" : "raw");
                arg(&a, "-device");
                /* The root volume is what the instance boots, whatever else is
                 * attached: SeaBIOS would otherwise try the seed disk (or an EBS
                 * volume) first, find no boot sector and wait forever. */
                const char *boot = v->kind == KILN_VOL_ROOT ? ",bootindex=0" : "";
                if (v->kind != KILN_VOL_STORE && !t->nvme_ebs)
                        arg(&a, "virtio-blk-pci,drive=vol%zu,serial=%s,addr=0x%x%s", i, v->serial, slot, boot);
                else
                        arg(&a, "nvme,drive=vol%zu,serial=%s,addr=0x%x%s", i, v->serial, slot, boot);
        }
        if (env->seed) {
                _cleanup_free_ char *p = qemu_opt_escape(env->seed);
                arg(&a, "-drive");
                arg(&a, "file=%s,if=none,id=seed,format=raw,readonly=on", p ? p : "");
                arg(&a, "-device");
                arg(&a, "virtio-blk-pci,drive=seed,addr=0x%x", slot);
        }
        /* A user network per NIC, each restricted (restrict=on): the guest
         * reaches neither the host nor anything beyond it, only what is
         * forwarded explicitly, the IMDS and SSH on DeviceIndex 0.  NICs sit
         * at slot 0x3 + DeviceIndex, below the disks, so the guest numbers
         * them in DeviceIndex order. */
        if (l->n_nics == 0 || l->nics[0].device_index != 0) {
                kiln_argv_free(a.v);
                return kiln_errorf(-EINVAL, "the launch has no network interface with DeviceIndex 0");
        }
        for (size_t i = 0; i < l->n_nics; i++) {
                const struct kiln_nic *c = &l->nics[i];
                unsigned k = c->device_index;
                char name[24];
                if (KILN_NIC_PCI_SLOT + k >= 0x10) {
                        kiln_argv_free(a.v);
                        return kiln_errorf(-EINVAL, "network interface DeviceIndex %u has no PCI slot (at most %d)", k,
                                           0x10 - KILN_NIC_PCI_SLOT - 1);
                }
                /* The DHCP host name: "ip-169-254-0-15". */
                snprintf(name, sizeof(name), "%.*s", (int)strcspn(c->hostname, "."), c->hostname);
                arg(&a, "-netdev");
                if (k == 0)
                        arg(&a,
                            "user,id=n0,restrict=on,net=%s,host=%s,dhcpstart=%s,hostname=%s,%s%s,hostfwd=tcp:127.0.0.1:%d-:22,"
                            "guestfwd=tcp:" KILN_IMDS_ADDR ":80-cmd:%s imds serve %s",
                            c->net, c->host, c->ipv4, name, c->ipv6[0] ? "ipv4=on,ipv6=on,ipv6-net=" : "ipv4=on,ipv6=off",
                            c->ipv6[0] ? c->ipv6_net : "", env->ssh_port, env->kiln, env->imds_dir);
                else
                        arg(&a, "user,id=n%u,restrict=on,net=%s,host=%s,dhcpstart=%s,hostname=%s,%s%s", k, c->net,
                            c->host, c->ipv4, name, c->ipv6[0] ? "ipv4=on,ipv6=on,ipv6-net=" : "ipv4=on,ipv6=off",
                            c->ipv6[0] ? c->ipv6_net : "");
                arg(&a, "-device");
                /* Only the primary keeps its boot ROM: SeaBIOS has room for a few. */
                arg(&a, "virtio-net-pci,netdev=n%u,mac=%s,addr=0x%x%s", k, c->mac, KILN_NIC_PCI_SLOT + k,
                    k ? ",romfile=" : "");
        }
        if (a.failed) {
                kiln_argv_free(a.v);
                return kiln_errorf(-ENOMEM, "out of memory");
        }
        *ret = a.v;
        return 0;
}

/* ------------------------------------------------------------ the run folder */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        (void)st;
        (void)flag;
        (void)ftw;
        remove(path);
        return 0;
}

static void rm_rf(const char *path)
{
        if (path)
                nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int copy_file(const char *from, const char *to, mode_t mode)
{
        _cleanup_close_ int in = open(from, O_RDONLY | O_CLOEXEC);
        _cleanup_close_ int out = -1;
        char buf[65536];
        ssize_t n;

        if (in < 0)
                return kiln_errorf(-errno, "cannot read '%s': %s", from, strerror(errno));
        out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
        if (out < 0)
                return kiln_errorf(-errno, "cannot create '%s': %s", to, strerror(errno));
        while ((n = read(in, buf, sizeof(buf))) != 0) {
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return kiln_errorf(-errno, "cannot read '%s': %s", from, strerror(errno));
                }
                for (ssize_t off = 0; off < n;) {
                        ssize_t w = write(out, buf + off, (size_t)(n - off));
                        if (w < 0) {
                                if (errno == EINTR)
                                        continue;
                                return kiln_errorf(-errno, "cannot write '%s': %s", to, strerror(errno));
                        }
                        off += w;
                }
        }
        return 0;
}

static int qemu_img_create(const char *path, const char *backing, uint64_t gib)
{
        char size[32];
        snprintf(size, sizeof(size), "%" PRIu64 "G", gib);
        if (backing) {
                char *const argv[] = { (char *)"qemu-img", (char *)"create", (char *)"-q", (char *)"-f",
                                       (char *)"qcow2", (char *)"-F", (char *)"raw", (char *)"-b",
                                       (char *)backing, (char *)path, size, NULL };
                return kiln_exec(argv);
        }
        char *const argv[] = { (char *)"qemu-img", (char *)"create", (char *)"-q", (char *)"-f", (char *)"qcow2",
                               (char *)path, size, NULL };
        return kiln_exec(argv);
}

static int make_volume(struct kiln_volume *v)
{
        _cleanup_free_ char *abs = NULL;
        struct stat st;
        int r;

        if (access(v->path, F_OK) == 0)
                return kiln_errorf(-EEXIST, "volume file '%s' exists already", v->path);
        if (v->kind == KILN_VOL_STORE) {
                _cleanup_close_ int fd = open(v->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
                if (fd < 0 || ftruncate(fd, (off_t)(v->size_gib * GIB)) < 0)
                        return kiln_errorf(-errno, "cannot create instance store '%s': %s", v->path, strerror(errno));
                return 0;
        }
        if (v->source) {
                abs = realpath(v->source, NULL);
                if (!abs || stat(abs, &st) < 0)
                        return kiln_errorf(-errno, "volume %s: cannot read '%s': %s", v->device_name, v->source,
                                           strerror(errno));
                if (!S_ISREG(st.st_mode))
                        return kiln_errorf(-EINVAL, "volume %s: '%s' is not a file", v->device_name, v->source);
                uint64_t need = DIV_ROUND_UP((uint64_t)st.st_size, GIB);
                if (!v->size_gib)
                        v->size_gib = need ? need : 1;
                if ((uint64_t)st.st_size > v->size_gib * GIB)
                        return kiln_errorf(-EINVAL, "volume %s of %" PRIu64 " GiB is smaller than its source '%s' (%" PRIu64 " GiB)",
                                           v->device_name, v->size_gib, v->source, need);
        }
        r = qemu_img_create(v->path, abs, v->size_gib);
        if (r < 0)
                return kiln_error_prefix(r, "volume %s", v->device_name);
        return 0;
}

static int write_imds(const struct kiln_launch *l, const struct kiln_launch_io *io, const char *dir)
{
        struct kiln_imds_bdm bdm[KILN_BDM_MAX + 2];
        size_t n = 0;
        _cleanup_free_ uint8_t *pub = NULL;
        _cleanup_free_ char *key_name = NULL;
        size_t pub_len = 0;
        int r;

        for (size_t i = 0; i < l->n_vols && n + 1 < ARRAY_SIZE(bdm); i++) {
                const struct kiln_volume *v = &l->vols[i];
                /* IMDS names devices without /dev/, except the root's. */
                const char *dev = v->kind == KILN_VOL_ROOT ? v->device_name : v->device_name + 5;
                if (v->kind == KILN_VOL_ROOT)
                        bdm[n++] = (struct kiln_imds_bdm){ "ami", dev };
                bdm[n++] = (struct kiln_imds_bdm){ v->imds_name, dev };
        }
        if (io->key_name) {
                r = read_full_file(io->key_name, 64 * 1024, &pub, &pub_len);
                if (r < 0)
                        return kiln_errorf(r, "cannot read public key '%s': %s", io->key_name, strerror(-r));
                while (pub_len > 0 && (pub[pub_len - 1] == '\n' || pub[pub_len - 1] == '\r'))
                        pub[--pub_len] = 0;
                if (strncmp((char *)pub, "ssh-", 4) && strncmp((char *)pub, "ecdsa-", 6) && strncmp((char *)pub, "sk-", 3))
                        return kiln_errorf(-EBADMSG, "'%s' is not an OpenSSH public key", io->key_name);
                const char *b = strrchr(io->key_name, '/');
                key_name = strdup(b ? b + 1 : io->key_name);
                if (!key_name)
                        return kiln_errorf(-ENOMEM, "out of memory");
                size_t kl = strlen(key_name);
                if (kl > 4 && !strcmp(key_name + kl - 4, ".pub"))
                        key_name[kl - 4] = 0;
        }
        struct kiln_imds_nic nics[KILN_NIC_MAX];
        bool v6 = false;
        for (size_t i = 0; i < l->n_nics && i < ARRAY_SIZE(nics); i++) {
                const struct kiln_nic *c = &l->nics[i];
                nics[i] = (struct kiln_imds_nic){
                        .device_number = c->device_index,
                        .mac = c->mac,
                        .interface_id = c->interface_id,
                        .local_hostname = c->hostname,
                        .local_ipv4 = c->ipv4,
                        .subnet_id = c->subnet_id,
                        .subnet_ipv4_cidr = c->net,
                        .ipv6 = c->ipv6[0] ? c->ipv6 : NULL,
                        .subnet_ipv6_cidr = c->ipv6[0] ? c->ipv6_net : NULL,
                };
                v6 |= c->ipv6[0] != 0;
        }
        /* The VPC: 169.254.0.0/16, and 100.64.0.0/16 for the other NICs' subnets. */
        static const char *const vpc4[] = { KILN_GUEST_NET, KILN_VPC_IPV4_CIDR2 };
        struct kiln_imds_instance in = {
                .instance_id = l->instance_id,
                .ami_id = l->ami_id,
                .instance_type = l->type->name,
                .hostname = l->nics[0].hostname,
                .local_ipv4 = l->nics[0].ipv4,
                .mac = l->nics[0].mac,
                .nics = nics,
                .n_nics = MIN(l->n_nics, ARRAY_SIZE(nics)),
                .vpc_id = l->vpc_id,
                .vpc_ipv4_cidrs = vpc4,
                .n_vpc_ipv4_cidrs = l->n_nics > 1 ? 2 : 1,
                .vpc_ipv6_cidr = v6 ? KILN_VPC_IPV6_CIDR : NULL,
                .security_group_id = l->security_group_id,
                .security_group = "default",
                .availability_zone = "us-east-1a",
                .key_name = key_name,
                .public_key = (const char *)pub,
                .bdm = bdm,
                .n_bdm = n,
                .user_data = io->user_data,
                .user_data_len = io->user_data_len,
                .imds_v1 = l->imds_v1,
                .architecture = kiln_arch_to_string(l->type->arch),
        };
        return kiln_imds_dir_write(dir, &in);
}

static char *path_join(const char *a, const char *b)
{
        char *p;
        return asprintf(&p, "%s/%s", a, b) < 0 ? NULL : p;
}

int kiln_launch_setup(struct kiln_launch *l, const struct kiln_launch_io *io, struct kiln_run *ret)
{
        struct kiln_run run = { .ssh_port = 0 };
        const char *tmp = getenv("TMPDIR");
        _cleanup_free_ char *tmpl = NULL;
        bool *made = NULL;
        int r;

        if (!tmp || !*tmp || tmp[0] != '/' || !kiln_path_is_shell_safe(tmp))
                tmp = "/tmp";
        if (asprintf(&tmpl, "%s/kiln-run.XXXXXX", tmp) < 0)
                return kiln_errorf(-ENOMEM, "out of memory");
        if (!mkdtemp(tmpl))
                return kiln_errorf(-errno, "cannot make a run folder in '%s': %s", tmp, strerror(errno));
        run.run_dir = TAKE_PTR(tmpl);
        run.kiln = path_join(run.run_dir, "kiln");
        run.imds_dir = path_join(run.run_dir, "imds");
        run.console = path_join(run.run_dir, "console.log");
        run.monitor = path_join(run.run_dir, "monitor.sock");
        if (!run.kiln || !run.imds_dir || !run.console || !run.monitor) {
                r = kiln_errorf(-ENOMEM, "out of memory");
                goto fail;
        }
        if (symlink(io->kiln, run.kiln) < 0) {
                r = kiln_errorf(-errno, "cannot link '%s' into the run folder: %s", io->kiln, strerror(errno));
                goto fail;
        }
        if ((r = kiln_launch_paths(l, run.run_dir, io->vol_dir)) < 0)
                goto fail;
        made = calloc(l->n_vols + 1, sizeof(*made));
        if (!made) {
                r = kiln_errorf(-ENOMEM, "out of memory");
                goto fail;
        }
        for (size_t i = 0; i < l->n_vols; i++) {
                if ((r = make_volume(&l->vols[i])) < 0)
                        goto fail;
                made[i] = true;
        }
        if (l->firmware == KILN_BOOT_UEFI) {
                run.ovmf_vars = path_join(run.run_dir, "OVMF_VARS_4M.fd");
                if (!run.ovmf_vars) {
                        r = kiln_errorf(-ENOMEM, "out of memory");
                        goto fail;
                }
                if (access(KILN_OVMF_CODE, R_OK) < 0) {
                        r = kiln_errorf(-ENOENT, "uefi needs OVMF: '%s' is missing (apt-get install ovmf)",
                                        KILN_OVMF_CODE);
                        goto fail;
                }
                if ((r = copy_file(KILN_OVMF_VARS, run.ovmf_vars, 0600)) < 0)
                        goto fail;
        }
        if (mkdir(run.imds_dir, 0700) < 0) {
                r = kiln_errorf(-errno, "cannot make '%s': %s", run.imds_dir, strerror(errno));
                goto fail;
        }
        if ((r = write_imds(l, io, run.imds_dir)) < 0)
                goto fail;
        if ((r = kiln_free_port(&run.ssh_port)) < 0)
                goto fail;
        free(made);
        *ret = run;
        return 0;
fail:
        for (size_t i = 0; made && i < l->n_vols; i++)
                if (made[i] && !l->vols[i].delete_on_termination)
                        unlink(l->vols[i].path);
        free(made);
        kiln_launch_cleanup(l, &run, false);
        return r;
}

void kiln_launch_cleanup(const struct kiln_launch *l, struct kiln_run *r, bool keep)
{
        (void)l; /* deleted-on-termination volumes live in the run folder */
        if (!keep)
                rm_rf(r->run_dir);
        free_str(&r->run_dir);
        free_str(&r->kiln);
        free_str(&r->imds_dir);
        free_str(&r->ovmf_vars);
        free_str(&r->console);
        free_str(&r->monitor);
}

int kiln_free_port(int *ret)
{
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof(sa);
        _cleanup_close_ int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
            getsockname(fd, (struct sockaddr *)&sa, &len) < 0)
                return kiln_errorf(-errno, "cannot find a free local port: %s", strerror(errno));
        *ret = ntohs(sa.sin_port);
        return 0;
}

static bool host_is_vm(void)
{
        FILE *f = fopen("/proc/cpuinfo", "re");
        char *line = NULL;
        size_t cap = 0;
        bool vm = false;

        if (!f)
                return false;
        while (getline(&line, &cap, f) > 0)
                if (!strncmp(line, "flags", 5)) {
                        vm = strstr(line, " hypervisor") != NULL;
                        break;
                }
        free(line);
        fclose(f);
        return vm;
}

int kiln_accel_pick(const char *accel, bool *ret_kvm)
{
        if (!accel || !strcmp(accel, "tcg")) {
                *ret_kvm = false;
                return 0;
        }
        if (strcmp(accel, "kvm") && strcmp(accel, "auto"))
                return kiln_errorf(-EINVAL, "unknown accelerator '%s' (kvm, tcg, auto)", accel);
        _cleanup_close_ int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
        int vm = -1;
        if (fd >= 0)
                vm = ioctl(fd, KVM_CREATE_VM, 0);
        int e = errno;
        if (vm >= 0)
                close(vm);
        if (!strcmp(accel, "kvm")) {
                if (vm < 0)
                        return kiln_errorf(-e, "--accel kvm: /dev/kvm cannot run a virtual machine: %s", strerror(e));
                *ret_kvm = true;
                return 0;
        }
        *ret_kvm = vm >= 0 && !host_is_vm();
        return 0;
}

/* ------------------------------------------------------------ the console */

void kiln_console_init(struct kiln_console *c)
{
        *c = (struct kiln_console){ .linux_ms = -1, .init_ms = -1, .ready_ms = -1 };
}

static void console_clear_keys(struct kiln_console *c)
{
        for (size_t i = 0; i < c->n_fingerprints; i++)
                free_str(&c->fingerprints[i]);
        for (size_t i = 0; i < c->n_keys; i++)
                free_str(&c->keys[i]);
        c->n_fingerprints = c->n_keys = 0;
        c->keys_done = false;
}

void kiln_console_free(struct kiln_console *c)
{
        console_clear_keys(c);
}

static bool has_suffix(const char *s, size_t len, const char *suf)
{
        size_t n = strlen(suf);
        return len >= n && !memcmp(s + len - n, suf, n);
}

static bool word_char(char c)
{
        return isalnum((unsigned char)c) || c == '_';
}

bool kiln_console_is_net_line(const char *line)
{
        static const char *const ifnames[] = { "eth", "ens", "enp" };

        if (strcasestr(line, "dhcp") || strcasestr(line, "network"))
                return true;
        for (const char *p = line; *p; p++) {
                bool start = p == line || !word_char(p[-1]);
                if (!start)
                        continue;
                if (!strncasecmp(p, "link", 4) && !word_char(p[4]))
                        return true;
                for (size_t i = 0; i < ARRAY_SIZE(ifnames); i++)
                        if (!strncmp(p, ifnames[i], 3) && isdigit((unsigned char)p[3]))
                                return true;
        }
        return false;
}

void kiln_console_line(struct kiln_console *c, const char *line, size_t len, int64_t t_ms)
{
        char buf[1024];
        unsigned long long ms;
        char name[24];

        while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == '\n'))
                len--;
        if (len >= sizeof(buf))
                len = sizeof(buf) - 1; /* key and marker lines are far shorter */
        memcpy(buf, line, len);
        buf[len] = 0;
        for (size_t i = 0; i < len; i++)
                if (buf[i] == 0)
                        buf[i] = ' ';

        if (kiln_console_is_net_line(buf)) {
                if (c->n_net_lines == KILN_CONSOLE_NET_LINES) {
                        memmove(c->net_lines[0], c->net_lines[1], sizeof(c->net_lines[0]) * (KILN_CONSOLE_NET_LINES - 1));
                        c->n_net_lines--;
                }
                char *d = c->net_lines[c->n_net_lines++];
                size_t n = MIN(len, (size_t)KILN_CONSOLE_NET_LINE_MAX - 1);
                memcpy(d, buf, n);
                d[n] = 0;
                for (char *p = d; *p; p++)
                        if ((unsigned char)*p < 0x20 || *p == 0x7f)
                                *p = ' ';
                c->net_seq++;
        }
        if (c->linux_ms < 0 && strstr(buf, "Linux version "))
                c->linux_ms = t_ms;
        if (c->init_ms < 0 && !strncmp(buf, "kiln-init ", 10) && has_suffix(buf, len, " starting"))
                c->init_ms = t_ms;
        if (c->n_tasks < KILN_CONSOLE_TASKS && !strncmp(buf, "task ", 5)) {
                struct kiln_console_task *t = &c->tasks[c->n_tasks];
                if (sscanf(buf, "task %23[a-z0-9_-]: ok in %llu ms", name, &ms) == 2) {
                        *t = (struct kiln_console_task){ .ms = ms, .ok = true };
                        snprintf(t->name, sizeof(t->name), "%s", name);
                        c->n_tasks++;
                } else if (sscanf(buf, "task %23[a-z0-9_-]: FAILED after %llu ms", name, &ms) == 2) {
                        *t = (struct kiln_console_task){ .ms = ms, .ok = false };
                        snprintf(t->name, sizeof(t->name), "%s", name);
                        c->n_tasks++;
                }
        }
        if (c->ready_ms < 0) {
                if (sscanf(buf, "kiln-init: first boot finished in %llu ms", &ms) == 1) {
                        c->ready_ms = t_ms;
                        c->first_boot = true;
                        c->init_total_ms = ms;
                } else if (sscanf(buf, "kiln-init: boot finished in %llu ms", &ms) == 1) {
                        c->ready_ms = t_ms;
                        c->init_total_ms = ms;
                }
        }

        if (strstr(buf, "-----BEGIN SSH HOST KEY FINGERPRINTS-----")) {
                console_clear_keys(c);
                c->block = 1;
                return;
        }
        if (strstr(buf, "-----END SSH HOST KEY FINGERPRINTS-----")) {
                c->block = 0;
                return;
        }
        if (strstr(buf, "-----BEGIN SSH HOST KEY KEYS-----")) {
                c->block = 2;
                return;
        }
        if (strstr(buf, "-----END SSH HOST KEY KEYS-----")) {
                c->block = 0;
                c->keys_done = true;
                return;
        }
        if (c->block == 1 && c->n_fingerprints < KILN_CONSOLE_KEYS) {
                const char *f = strstr(buf, "SHA256:");
                if (f) {
                        size_t n = strcspn(f, " \t");
                        c->fingerprints[c->n_fingerprints] = strndup(f, n);
                        if (c->fingerprints[c->n_fingerprints])
                                c->n_fingerprints++;
                }
        } else if (c->block == 2 && c->n_keys < KILN_CONSOLE_KEYS) {
                const char *sp = strchr(buf, ' ');
                if (sp) {
                        size_t n = (size_t)(sp - buf) + 1 + strcspn(sp + 1, " \t");
                        c->keys[c->n_keys] = strndup(buf, n);
                        if (c->keys[c->n_keys])
                                c->n_keys++;
                }
        }
}

/* The key's SHA-256 fingerprint as ssh-keygen -l prints it, or -EBADMSG. */
static int key_fingerprint(const char *type, const char *b64, char *out, size_t outlen)
{
        size_t len = strlen(b64);
        unsigned char md[32];
        unsigned char enc[64];

        if (len == 0 || len % 4 || len > 16384)
                return -EBADMSG;
        _cleanup_free_ unsigned char *blob = malloc(len / 4 * 3 + 1);
        if (!blob)
                return -ENOMEM;
        int n = EVP_DecodeBlock(blob, (const unsigned char *)b64, (int)len);
        if (n < 0)
                return -EBADMSG;
        if (b64[len - 1] == '=')
                n--;
        if (b64[len - 2] == '=')
                n--;
        /* The blob starts with its own type name: uint32 length, then the name. */
        size_t tl = strlen(type);
        if (n < 4 || (size_t)n < 4 + tl ||
            ((uint32_t)blob[0] << 24 | (uint32_t)blob[1] << 16 | (uint32_t)blob[2] << 8 | blob[3]) != tl ||
            memcmp(blob + 4, type, tl))
                return -EBADMSG;
        if (!EVP_Digest(blob, (size_t)n, md, NULL, EVP_sha256(), NULL))
                return -EIO;
        int e = EVP_EncodeBlock(enc, md, sizeof(md));
        while (e > 0 && enc[e - 1] == '=')
                e--;
        enc[e] = 0;
        snprintf(out, outlen, "SHA256:%s", enc);
        return 0;
}

int kiln_console_known_hosts(const struct kiln_console *c, const char *host, char **ret)
{
        char *text = NULL;
        size_t tlen = 0;
        FILE *f;

        if (c->n_keys == 0)
                return kiln_errorf(-ENOKEY, "the console showed no SSH host keys (-----BEGIN SSH HOST KEY KEYS-----)");
        if (c->n_fingerprints == 0)
                return kiln_errorf(-ENOKEY, "the console showed no SSH host key fingerprints to check the keys against");
        f = open_memstream(&text, &tlen);
        if (!f)
                return kiln_errorf(-ENOMEM, "out of memory");
        for (size_t i = 0; i < c->n_keys; i++) {
                char type[64], fp[128];
                const char *sp = strchr(c->keys[i], ' ');
                int r;
                if (!sp || (size_t)(sp - c->keys[i]) >= sizeof(type)) {
                        fclose(f);
                        free(text);
                        return kiln_errorf(-EBADMSG, "host key line %zu on the console is malformed", i + 1);
                }
                snprintf(type, sizeof(type), "%.*s", (int)(sp - c->keys[i]), c->keys[i]);
                r = key_fingerprint(type, sp + 1, fp, sizeof(fp));
                bool found = false;
                for (size_t j = 0; r == 0 && j < c->n_fingerprints; j++)
                        found |= !strcmp(c->fingerprints[j], fp);
                if (r < 0 || !found) {
                        fclose(f);
                        free(text);
                        if (r < 0)
                                return kiln_errorf(-EBADMSG, "host key %zu (%s) on the console is malformed", i + 1, type);
                        return kiln_errorf(-EBADMSG, "host key %zu (%s, %s) is not among the console's fingerprints",
                                           i + 1, type, fp);
                }
                fprintf(f, "%s %s\n", host, c->keys[i]);
        }
        if (fclose(f) != 0) {
                free(text);
                return kiln_errorf(-ENOMEM, "out of memory");
        }
        *ret = text;
        return 0;
}
