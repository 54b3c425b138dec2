/*
 * fuzz_npy.c - libFuzzer target for the .npy header parser (proto/atrous_npy.c), which reads
 * model filters files at start-up.
 *
 * Any byte string is the start of a file. atrous_npy_header_size must accept or refuse it
 * without reading past it; when it accepts and the bytes hold the whole header,
 * atrous_npy_parse_header must too, and an accepted header must describe a rank within
 * ATROUS_MAX_RANK with non-negative dims and its data offset inside what was claimed.
 */
#include <stdlib.h>
#include <string.h>

#include "atrous_npy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned char *buf = malloc(size ? size : 1);
    if (buf == NULL)
        return 0;
    memcpy(buf, data, size);
    struct atrous_error err;
    size_t header = 0;
    if (atrous_npy_header_size(buf, size, &header, &err) == ATROUS_OK && header <= size) {
        struct atrous_npy_header h;
        if (atrous_npy_parse_header(buf, size, &h, &err) == ATROUS_OK) {
            if (h.shape.rank < 0 || h.shape.rank > ATROUS_MAX_RANK || h.data_offset != header ||
                strlen(h.descr) > ATROUS_NPY_DESCR_MAX)
                abort();
            for (int i = 0; i < h.shape.rank; i++) {
                if (h.shape.dims[i] < 0)
                    abort();
            }
        } else if (err.message[0] == '\0') {
            abort();
        }
    }
    free(buf);
    return 0;
}
