/*
 * fuzz_json.c - libFuzzer target for the JSON request decoder (proto/atrous_json.c).
 *
 * Any byte string is a request body. The decoder must return an error or a request whose
 * tensors hold exactly their shapes' element counts; an accepted request then goes through the
 * op's validation, and a valid one's output shape is encoded as JSON, which must decode back.
 * ASan/UBSan catch memory and arithmetic errors; the checks below catch wrong answers.
 */
#include <stdlib.h>

#include "atrous_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct atrous_decode_limits limits = {.max_tensor_elements = 1 << 16, .max_depth = 0};
    struct atrous_request request;
    struct atrous_error err;
    atrous_request_init(&request);
    enum atrous_status st =
        atrous_json_decode_request((const char *)data, size, &limits, &request, &err);
    if (st != ATROUS_OK) {
        if (err.message[0] == '\0')
            abort(); /* every rejection says why */
        atrous_request_release(&request);
        return 0;
    }
    size_t value_count, filters_count;
    if (atrous_shape_elements(&request.value_shape, "value", &value_count, NULL) ||
        atrous_shape_elements(&request.filters_shape, "filters", &filters_count, NULL))
        abort(); /* the decoder accepted a shape it cannot describe */
    if ((value_count && !request.value) || (filters_count && !request.filters))
        abort();
    volatile float sink = 0;
    for (size_t i = 0; i < value_count; i++) /* every element readable (ASan) */
        sink += request.value[i];
    for (size_t i = 0; i < filters_count; i++)
        sink += request.filters[i];
    (void)sink;

    struct atrous_problem problem;
    if (atrous_request_validate(&request, NULL, &problem, &err) == ATROUS_OK &&
        problem.output_elements <= (1 << 16)) {
        struct atrous_shape out_shape;
        atrous_problem_output_shape(&problem, &out_shape);
        float *zeros = calloc(problem.output_elements + 1, sizeof(float));
        char *json = NULL;
        size_t json_len = 0;
        if (zeros &&
            atrous_json_encode_output(&out_shape, zeros, &json, &json_len, &err) == ATROUS_OK &&
            json[json_len] != '\0')
            abort(); /* the encoder promises a terminating NUL */
        free(json);
        free(zeros);
    }
    atrous_request_release(&request);
    return 0;
}
