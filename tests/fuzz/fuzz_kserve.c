/*
 * fuzz_kserve.c - libFuzzer target for the KServe v2 inference decoder and encoder
 * (proto/atrous_kserve_decode.c, proto/atrous_kserve_encode.c), for the repository model of
 * fuzz_model.h and for the generic model.
 *
 * Input (fuzz_input.h): four prefix bytes choose the model and whether an
 * Inference-Header-Content-Length header is sent (and its value); the rest is the body. A
 * decoded request must hold tensors readable to their last element; a valid one's output is
 * encoded (JSON or binary, as asked) and the JSON header must parse back as a NUL-terminated
 * text of the length reported. ASan/UBSan catch memory and arithmetic errors.
 */
#include <stdlib.h>
#include <string.h>

#include "atrous_kserve.h"
#include "fuzz_input.h"
#include "fuzz_model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < FUZZ_KSERVE_PREFIX)
        return 0;
    char ihcl_buf[16];
    const char *ihcl = fuzz_ihcl(data, ihcl_buf);
    const struct atrous_model *m = (data[0] & FUZZ_KSERVE_GENERIC) ? NULL : fuzz_model_shared();
    /* The body in its own allocation, so ASan sees reads past its end. */
    size_t len = size - FUZZ_KSERVE_PREFIX;
    unsigned char *body = malloc(len ? len : 1);
    if (body == NULL)
        return 0;
    memcpy(body, data + FUZZ_KSERVE_PREFIX, len);
    struct atrous_kserve_limits limits = {.max_tensor_elements = 1 << 16,
                                          .max_json_bytes = 1 << 16};
    struct atrous_kserve_request req;
    struct atrous_error err;
    atrous_kserve_request_init(&req);
    /* The header goes through its one parser first, as the server's admission does. */
    uint64_t header = 0;
    enum atrous_status st = ATROUS_OK;
    if (ihcl != NULL)
        st = atrous_kserve_parse_header_length(ihcl, &header, &err);
    if (st == ATROUS_OK)
        st = atrous_kserve_decode_infer(m, body, len, ihcl ? &header : NULL, &limits, &req, &err);
    if (st != ATROUS_OK) {
        if (err.message[0] == '\0')
            abort(); /* every rejection says why */
        free(body);
        return 0;
    }
    size_t value_count = 0, filters_count = 0;
    if (atrous_shape_elements(&req.op.value_shape, "value", &value_count, NULL) ||
        atrous_shape_elements(&req.op.filters_shape, "filters", &filters_count, NULL))
        abort();
    if ((value_count && !req.op.value) || (filters_count && !req.op.filters))
        abort();
    fuzz_touch(req.op.value, value_count);
    fuzz_touch(req.op.filters, filters_count);
    if (m != NULL && req.op.filters != m->filters)
        abort(); /* a repository model's request runs the model's filters */

    struct atrous_problem problem;
    struct atrous_shape shape;
    struct atrous_kserve_reply reply;
    float *out = fuzz_output_for(&req.op, &problem, &shape);
    if (out != NULL &&
        atrous_kserve_encode_infer_as(&req, &shape, out, "f32", &reply, &err) == ATROUS_OK) {
        if (reply.header[reply.header_len] != '\0' || strlen(reply.header) != reply.header_len)
            abort();
        /* Binary data is what was asked (an empty output has no bytes to point at). */
        if (problem.output_elements > 0 && req.binary_output != (reply.binary != NULL))
            abort();
        if (reply.binary &&
            reply.binary_len != problem.output_elements * atrous_dtype_size(req.op.output_dtype))
            abort();
        atrous_kserve_reply_release(&reply);
    }
    free(out);
    atrous_kserve_request_release(&req);
    free(body);
    return 0;
}
