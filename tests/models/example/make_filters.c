/*
 * make_filters.c - writes filters.npy of the example model: float32 '<f4', C order, shape
 * [3, 3, 4, 2] ([KH, KW, OC, IC]), element i (row-major) = ((i * 5) % 9 - 4) / 8, every value
 * exact in float32. Run from this folder (see README.md); tests/test_model.c checks the
 * committed file against the same formula.
 */
#include <stdio.h>
#include <string.h>

int main(void)
{
    const char *dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 3, 4, 2), }";
    char header[128];
    /* numpy pads the header with spaces so that magic + header ends on a 64-byte boundary. */
    size_t len = 10 + strlen(dict) + 1, padded = (len + 63) / 64 * 64;
    memset(header, ' ', sizeof(header));
    memcpy(header, dict, strlen(dict));
    header[padded - 10 - 1] = '\n';
    unsigned short header_len = (unsigned short)(padded - 10);
    FILE *f = fopen("filters.npy", "wb");
    if (f == NULL)
        return 1;
    fwrite("\x93NUMPY\x01\x00", 1, 8, f);
    fputc(header_len & 0xff, f);
    fputc(header_len >> 8, f);
    fwrite(header, 1, header_len, f);
    for (int i = 0; i < 3 * 3 * 4 * 2; i++) {
        float v = (float)((i * 5) % 9 - 4) / 8.0f;
        fwrite(&v, sizeof(v), 1, f); /* x86-64: little-endian, as '<f4' says */
    }
    return fclose(f) == 0 ? 0 : 1;
}
