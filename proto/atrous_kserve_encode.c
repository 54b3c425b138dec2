/*
 * atrous_kserve_encode.c - the KServe v2 inference response: the output tensor as JSON data or
 * as binary data after a JSON header, in the request's output datatype.
 */
#include "atrous_kserve.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "atrous_json_writer.h"
#include "atrous_kserve_dom.h"
#include "atrous_kserve_internal.h"

void atrous_kserve_reply_release(struct atrous_kserve_reply *reply)
{
    if (reply == NULL)
        return;
    free(reply->header);
    atrous_aligned_free(reply->owned_binary);
    memset(reply, 0, sizeof(*reply));
}

void atrous__kserve_write_dims(struct atrous_jw *w, const int64_t *dims, int rank)
{
    atrous_jw_array_begin(w);
    for (int i = 0; i < rank; i++)
        atrous_jw_int(w, dims[i]);
    atrous_jw_array_end(w);
}

const char *atrous__kserve_model_name(const struct atrous_model *model)
{
    return model ? model->name : ATROUS_GENERIC_MODEL_NAME;
}

const char *atrous__kserve_model_version(const struct atrous_model *model)
{
    return model ? model->version : ATROUS_GENERIC_MODEL_VERSION;
}

enum atrous_status atrous_kserve_encode_infer(const struct atrous_kserve_request *request,
                                              const struct atrous_shape *shape, const float *data,
                                              struct atrous_kserve_reply *out,
                                              struct atrous_error *err)
{
    return atrous_kserve_encode_infer_as(request, shape, data, NULL, out, err);
}

enum atrous_status atrous_kserve_encode_infer_as(const struct atrous_kserve_request *request,
                                                 const struct atrous_shape *shape,
                                                 const float *data, const char *precision,
                                                 struct atrous_kserve_reply *out,
                                                 struct atrous_error *err)
{
    enum atrous_status st = ATROUS_OK;
    size_t count = 0, bytes = 0;
    struct atrous_jw *w = NULL;
    float *rounded = NULL;
    const enum atrous_dtype dtype = request->op.output_dtype;

    memset(out, 0, sizeof(*out));
    if ((st = atrous_shape_elements(shape, "output", &count, err)))
        return st;
    if (__builtin_mul_overflow(count, atrous_dtype_size(dtype), &bytes))
        return atrous_error_set(err, ATROUS_TOO_LARGE, "output", "the output is too large");
    if ((w = atrous_jw_create()) == NULL)
        return atrous_error_set(err, ATROUS_NO_MEMORY, "", "out of memory writing a response");
    atrous_jw_object_begin(w);
    atrous_jw_key(w, "model_name");
    atrous_jw_string(w, atrous__kserve_model_name(request->model));
    atrous_jw_key(w, "model_version");
    atrous_jw_string(w, atrous__kserve_model_version(request->model));
    if (request->id != NULL) {
        atrous_jw_key(w, "id");
        atrous_jw_string(w, request->id);
    }
    atrous_jw_key(w, "outputs");
    atrous_jw_array_begin(w);
    atrous_jw_object_begin(w);
    atrous_jw_key(w, "name");
    atrous_jw_string(w, "output");
    atrous_jw_key(w, "datatype");
    atrous_jw_string(w, atrous_dtype_kserve_name(dtype));
    atrous_jw_key(w, "shape");
    atrous__kserve_write_dims(w, shape->dims, shape->rank);
    /* A 16-bit output: each float32 rounded once to the dtype (a copy: data is borrowed). */
    if (dtype != ATROUS_DTYPE_FLOAT32 && count > 0) {
        /* Binary: the 2-byte elements; JSON: the rounded values as float32, to write. */
        rounded = atrous_aligned_alloc(request->binary_output ? bytes : count * sizeof(float));
        if (rounded == NULL) {
            st = atrous_error_set(err, ATROUS_NO_MEMORY, "", "out of memory writing a response");
            goto out;
        }
        if (request->binary_output) {
            atrous_dtype_narrow(dtype, data, rounded, count);
        } else {
            memcpy(rounded, data, count * sizeof(float));
            atrous_dtype_quantize(dtype, rounded, count);
        }
        data = rounded;
    }
    if (request->binary_output) {
        atrous_jw_key(w, "parameters");
        atrous_jw_object_begin(w);
        atrous_jw_key(w, "binary_data_size");
        atrous_jw_uint(w, bytes);
        atrous_jw_object_end(w);
    } else {
        atrous_jw_key(w, "data");
        atrous__dom_write_flat(w, data, count);
    }
    atrous_jw_object_end(w);
    atrous_jw_array_end(w);
    if (precision != NULL) {
        atrous_jw_key(w, "parameters");
        atrous_jw_object_begin(w);
        atrous_jw_key(w, ATROUS_KSERVE_PARAM_COMPUTE_PRECISION);
        atrous_jw_string(w, precision);
        atrous_jw_object_end(w);
    }
    atrous_jw_object_end(w);
    if ((st = atrous__dom_take(w, &out->header, &out->header_len, err)))
        goto out;
    if (request->binary_output) {
        out->binary = data;
        out->binary_len = bytes;
        out->owned_binary = rounded;
        rounded = NULL;
    }
out:
    atrous_aligned_free(rounded);
    atrous_jw_free(w);
    return st;
}
