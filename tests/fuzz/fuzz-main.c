/* SPDX-License-Identifier: MIT */
/*
 * Replays files (or every file in a folder) through LLVMFuzzerTestOneInput, so
 * each fuzz target doubles as a regression test built with ASan+UBSan.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path)
{
        FILE *f = fopen(path, "rb");
        uint8_t *buf;
        long n;

        if (!f) {
                perror(path);
                return 1;
        }
        fseek(f, 0, SEEK_END);
        n = ftell(f);
        fseek(f, 0, SEEK_SET);
        buf = malloc(n > 0 ? (size_t)n : 1);
        if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
                fclose(f);
                free(buf);
                return 1;
        }
        fclose(f);
        LLVMFuzzerTestOneInput(buf, (size_t)n);
        free(buf);
        return 0;
}

int main(int argc, char **argv)
{
        int count = 0, failed = 0;

        for (int i = 1; i < argc; i++) {
                struct stat st;
                if (stat(argv[i], &st) < 0) {
                        perror(argv[i]);
                        return 1;
                }
                if (!S_ISDIR(st.st_mode)) {
                        failed |= replay_file(argv[i]);
                        count++;
                        continue;
                }
                struct dirent **ents;
                int n = scandir(argv[i], &ents, NULL, alphasort);
                for (int j = 0; j < n; j++) {
                        if (ents[j]->d_name[0] != '.') {
                                char path[4096];
                                snprintf(path, sizeof(path), "%s/%s", argv[i], ents[j]->d_name);
                                failed |= replay_file(path);
                                count++;
                        }
                        free(ents[j]);
                }
                free(ents);
        }
        fprintf(stderr, "replayed %d inputs\n", count);
        return failed;
}
