/* SPDX-License-Identifier: MIT */
/* The disk seam's backends: memory, slice, fault, file. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../lib/tap.h"
#include "disk.h"
#include "util.h"

static void test_memory_and_slice(void)
{
        struct kiln_disk *d, *s;
        uint8_t buf[16];

        ok(kiln_disk_new_memory(4096, &d) == 0, "memory disk");
        ok(kiln_disk_pwrite(d, "abcd", 4, 100) == 0, "write inside");
        ok(kiln_disk_pwrite(d, "abcd", 4, 4094) == -ENOSPC, "write past the end is refused");
        ok(kiln_disk_new_slice(d, 1024, 1024, &s) == 0, "slice");
        ok(kiln_disk_pwrite(s, "xy", 2, 10) == 0, "write in slice");
        ok(memcmp(kiln_disk_memory_data(d) + 1034, "xy", 2) == 0, "slice writes at its offset");
        ok(kiln_disk_pwrite(s, "xy", 2, 1023) == -ENOSPC, "slice bounds are its own");
        ok(kiln_disk_pread(d, buf, 4, 100) == 0 && !memcmp(buf, "abcd", 4), "read back");
        ok(kiln_disk_new_slice(d, 4000, 1000, &(struct kiln_disk *){ NULL }) == -EINVAL, "slice past end refused");
        kiln_disk_free(s);
        kiln_disk_free(d);
}

static void test_fault(void)
{
        struct kiln_disk *m, *f;

        kiln_disk_new_memory(4096, &m);
        ok(kiln_disk_new_fault(m, 3, &f) == 0, "fault disk failing write 3");
        ok(kiln_disk_pwrite(f, "a", 1, 0) == 0, "write 1 passes");
        ok(kiln_disk_pwrite(f, "b", 1, 1) == 0, "write 2 passes");
        ok(kiln_disk_pwrite(f, "c", 1, 2) == -EIO, "write 3 fails with -EIO");
        ok(strstr(kiln_last_error(), "injected") != NULL, "message says it was injected");
        ok(kiln_disk_pwrite(f, "d", 1, 3) == 0, "write 4 passes");
        ok(kiln_disk_memory_data(m)[2] == 0, "failed write left nothing");
        kiln_disk_free(f);
}

static void test_file_sparse(void)
{
        char path[] = "/tmp/kiln-test-disk-XXXXXX";
        int fd = mkstemp(path);
        struct kiln_disk *d;
        struct stat st;
        uint8_t big[8192];

        unlink(path);
        ok(kiln_disk_new_file(fd, 64 << 20, &d) == 0, "file disk of 64 MiB");
        memset(big, 0x5a, sizeof(big));
        ok(kiln_disk_pwrite(d, big, sizeof(big), 32 << 20) == 0, "write in the middle");
        ok(kiln_disk_copy_from_fd(d, fd, 32 << 20, 4096, 0) == 0, "copy from a file");
        fstat(fd, &st);
        ok(st.st_size == 64 << 20, "file has the disk's size");
        ok((uint64_t)st.st_blocks * 512 < (1 << 20), "and is sparse (%llu bytes allocated)",
           (unsigned long long)st.st_blocks * 512);
        uint8_t b = 0;
        pread(fd, &b, 1, 100);
        ok(b == 0x5a, "copied bytes landed");
        kiln_disk_free(d);
        close(fd);
}

int main(void)
{
        test_memory_and_slice();
        test_fault();
        test_file_sparse();
        return tap_done();
}
