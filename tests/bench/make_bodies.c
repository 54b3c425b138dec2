/*
 * make_bodies.c - writes the request bodies `make bench` posts with wrk: for each named shape
 * (3x3 filters, rate 2, SAME, random data in [-1, 1)), NAME.bin (binary body), NAME.target
 * (the binary form's path and query), NAME.json (the JSON body), built by the same request
 * builders the integration tests use.
 *
 *   make_bodies OUT_DIR NAME=N,H,W,IC,OC [NAME=...]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_client.h"
#include "naive_ref.h"

static int write_file(const char *dir, const char *name, const char *ext, const void *data,
                      size_t len)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s.%s", dir, name, ext);
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(data, 1, len, f) != len) {
        fprintf(stderr, "make_bodies: cannot write %s\n", path);
        if (f)
            fclose(f);
        return -1;
    }
    return fclose(f);
}

int main(int argc, char **argv)
{
    if (argc < 3 || !strcmp(argv[1], "--help")) {
        printf("usage: %s OUT_DIR NAME=N,H,W,IC,OC ...\nWrites NAME.bin, NAME.target and "
               "NAME.json request bodies (3x3 filters, rate 2, SAME).\n",
               argv[0]);
        return argc < 3 ? 2 : 0;
    }
    struct naive_rng rng = {.state = 20261121};
    for (int i = 2; i < argc; i++) {
        char name[64];
        long long n, h, w, ic, oc;
        const char *eq = strchr(argv[i], '=');
        if (eq == NULL || (size_t)(eq - argv[i]) >= sizeof(name) ||
            sscanf(eq + 1, "%lld,%lld,%lld,%lld,%lld", &n, &h, &w, &ic, &oc) != 5) {
            fprintf(stderr, "make_bodies: bad spec %s\n", argv[i]);
            return 2;
        }
        memcpy(name, argv[i], (size_t)(eq - argv[i]));
        name[eq - argv[i]] = '\0';
        const int64_t value[4] = {n, h, w, ic}, filters[4] = {3, 3, oc, ic};
        struct http_op_args a;
        if (http_op_zeros(&a, value, filters, 2))
            return 1;
        naive_rng_fill(&rng, (float *)a.value, a.value_count);
        naive_rng_fill(&rng, (float *)a.filters, a.filters_count);
        size_t json_len, bin_len;
        char *json = http_op_json(&a, &json_len);
        char *target = http_op_binary_target(&a);
        void *bin = http_op_binary_body(&a, &bin_len);
        if (!json || !target || !bin || write_file(argv[1], name, "json", json, json_len) ||
            write_file(argv[1], name, "target", target, strlen(target)) ||
            write_file(argv[1], name, "bin", bin, bin_len))
            return 1;
        free(json);
        free(target);
        free(bin);
        http_op_zeros_free(&a);
    }
    return 0;
}
