/*
 * fuzz_tfserving.c - libFuzzer target for the TF Serving :predict decoder and encoder
 * (proto/atrous_tfserving.c) for the repository model of fuzz_model.h.
 *
 * Any byte string is a body. A decoded request must hold a value readable to its last element
 * whose channels are the model's; a valid one's answer is encoded in the format the request
 * used ({"predictions"} for rows, {"outputs"} for columns) as a NUL-terminated JSON text.
 */
#include <stdlib.h>
#include <string.h>

#include "atrous_tfserving.h"
#include "fuzz_model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const struct atrous_model *model = fuzz_model_shared();
    unsigned char *body = malloc(size ? size : 1);
    if (body == NULL)
        return 0;
    memcpy(body, data, size);
    struct atrous_tfs_limits limits = {.max_tensor_elements = 1 << 16, .max_json_bytes = 1 << 16};
    struct atrous_tfs_request req;
    struct atrous_error err;
    atrous_tfs_request_init(&req);
    enum atrous_status st = atrous_tfs_decode_predict(model, body, size, &limits, &req, &err);
    free(body); /* the value is copied out of the JSON */
    if (st != ATROUS_OK) {
        if (err.message[0] == '\0')
            abort();
        return 0;
    }
    size_t count = 0;
    if (atrous_shape_elements(&req.op.value_shape, "value", &count, NULL) ||
        req.op.value_shape.rank != 4 || req.op.value_shape.dims[3] != FUZZ_MODEL_IC ||
        (count && !req.op.value) || req.op.filters != model->filters)
        abort();
    fuzz_touch(req.op.value, count);
    struct atrous_problem problem;
    struct atrous_shape shape;
    char *json = NULL;
    size_t len = 0;
    float *out = fuzz_output_for(&req.op, &problem, &shape);
    if (out != NULL &&
        atrous_tfs_encode_predict(&req, &shape, out, &json, &len, &err) == ATROUS_OK) {
        if (json[len] != '\0' || strlen(json) != len ||
            strstr(json, req.columnar ? "\"outputs\"" : "\"predictions\"") != json + 1)
            abort();
    }
    free(json);
    free(out);
    atrous_tfs_request_release(&req);
    return 0;
}
