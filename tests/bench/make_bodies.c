/*
 * make_bodies.c - writes the request bodies `make bench` posts with wrk: for each named shape
 * (3x3 filters, rate 2, SAME, random data in [-1, 1)), NAME.bin (binary body), NAME.target
 * (the binary form's path and query), NAME.json (the JSON body), built by the same request
 * builders the integration tests use; and NAME_bf16 / NAME_f16 .bin and .target, the same
 * tensors as 2-byte bodies with dtype= in the query.
 *
 *   make_bodies OUT_DIR NAME=N,H,W,IC,OC [NAME=...]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atrous_dtype.h"
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
        /* The same tensors as bfloat16 and float16 bodies (2 bytes per element, rounded to
         * nearest even): NAME_bf16.bin / .target, NAME_f16.bin / .target. */
        const size_t count = a.value_count + a.filters_count;
        const enum atrous_dtype halves[2] = {ATROUS_DTYPE_BFLOAT16, ATROUS_DTYPE_FLOAT16};
        const char *const suffix[2] = {"bf16", "f16"};
        unsigned char *half = malloc(2 * count + 1);
        if (half == NULL)
            return 1;
        for (int t = 0; t < 2; t++) {
            char half_name[80], half_target[8192];
            snprintf(half_name, sizeof(half_name), "%s_%s", name, suffix[t]);
            snprintf(half_target, sizeof(half_target), "%s&dtype=%s", target,
                     atrous_dtype_name(halves[t]));
            atrous_dtype_narrow(halves[t], (const float *)bin, half, count);
            if (write_file(argv[1], half_name, "target", half_target, strlen(half_target)) ||
                write_file(argv[1], half_name, "bin", half, 2 * count))
                return 1;
        }
        free(half);
        free(json);
        free(target);
        free(bin);
        http_op_zeros_free(&a);
    }
    return 0;
}
