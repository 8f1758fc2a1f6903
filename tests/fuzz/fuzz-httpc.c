/* SPDX-License-Identifier: MIT */
/*
 * The HTTP client's pure half on arbitrary bytes: kiln_http_parse_head() on
 * the input as a response, then kiln_http_chunked_feed() on what follows the
 * head (or on the whole input when there is no head), once in one piece and
 * once a byte at a time: both must agree on the data, on where the message
 * ends and on whether it is malformed.  Also: only documented errors, *ret
 * untouched on failure, a head length inside the input, a status 100..999.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "httpc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void dechunk(const uint8_t *in, size_t len)
{
        struct kiln_http_chunked one = { 0 }, bytes = { 0 };
        uint8_t *out1 = malloc(len + 1), *out2 = malloc(len + 1);
        size_t n1 = 0, n2 = 0, used2 = 0;
        long used1, r = 0;

        if (!out1 || !out2)
                goto out;
        used1 = kiln_http_chunked_feed(&one, in, len, out1, len, &n1);
        if (used1 < 0 && used1 != -EBADMSG)
                abort(); /* chunk data never outgrows its input: no -EFBIG here */
        for (size_t i = 0; i < len && !bytes.done; i++) {
                r = kiln_http_chunked_feed(&bytes, in + i, 1, out2, len, &n2);
                if (r < 0)
                        break;
                used2 += (size_t)r;
        }
        if (used1 < 0) {
                if (r >= 0)
                        abort();
                goto out;
        }
        if (r < 0 || (size_t)used1 != used2 || n1 != n2 || memcmp(out1, out2, n1) || one.done != bytes.done ||
            n1 > len || (!one.done && (size_t)used1 != len))
                abort();
        /* With a smaller output, -EFBIG exactly when the data does not fit. */
        if (n1 > 0) {
                struct kiln_http_chunked c = { 0 };
                size_t n = 0;
                long q = kiln_http_chunked_feed(&c, in, len, out2, n1 - 1, &n);

                if (q != -EFBIG || n > n1 - 1)
                        abort();
        }
out:
        free(out1);
        free(out2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct kiln_http_head h, before;
        uint8_t *buf = malloc(size ? size : 1);
        int r;

        if (!buf)
                return 0;
        if (size)
                memcpy(buf, data, size);
        memset(&h, 0x5a, sizeof(h));
        before = h;
        r = kiln_http_parse_head(buf, size, &h);
        if (r < 0) {
                if ((r != -EAGAIN && r != -EBADMSG) || memcmp(&h, &before, sizeof(h)))
                        abort();
                if (r == -EAGAIN && size >= KILN_HTTP_MAX_HEAD)
                        abort();
                dechunk(buf, size);
        } else {
                if (r != 0 || h.head_len > size || h.head_len > KILN_HTTP_MAX_HEAD || h.status < 100 ||
                    h.status > 999 || (h.chunked && h.has_length) || (!h.has_length && h.content_length))
                        abort();
                if (h.chunked)
                        dechunk(buf + h.head_len, size - h.head_len);
        }
        if (size && memcmp(buf, data, size))
                abort();
        free(buf);
        return 0;
}
