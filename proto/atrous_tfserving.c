/*
 * atrous_tfserving.c - TF Serving's REST API for repository models: paths, :predict bodies in
 * the row ("instances") and columnar ("inputs") formats decoded into struct atrous_request,
 * predictions / outputs encoded as nested lists, and the model status and metadata documents.
 */
#include "atrous_tfserving.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atrous_json_writer.h"
#include "atrous_kserve_dom.h"

bool atrous_tfs_parse_path(const char *path, struct atrous_tfs_route *out)
{
    static const char models[] = "/v1/models/";
    memset(out, 0, sizeof(*out));
    if (strncmp(path, models, sizeof(models) - 1) != 0)
        return false;
    const char *rest = atrous_model_parse_path(path + sizeof(models) - 1, out->model, out->version);
    if (rest == NULL)
        out->kind = ATROUS_TFS_ROUTE_NONE;
    else if (rest[0] == '\0')
        out->kind = ATROUS_TFS_ROUTE_STATUS;
    else if (strcmp(rest, "/metadata") == 0)
        out->kind = ATROUS_TFS_ROUTE_METADATA;
    else if (strcmp(rest, ":predict") == 0)
        out->kind = ATROUS_TFS_ROUTE_PREDICT;
    if (out->kind == ATROUS_TFS_ROUTE_NONE)
        memset(out, 0, sizeof(*out));
    return out->kind != ATROUS_TFS_ROUTE_NONE;
}

enum atrous_status atrous_tfs_model_missing(const struct atrous_tfs_route *route,
                                            struct atrous_error *err)
{
    /* TF Serving's words, which its clients may match on. */
    if (route->version[0] != '\0')
        return atrous_error_set(err, ATROUS_INVALID_ARGUMENT, "model",
                                "Servable not found for request: Specific(%s, %s)", route->model,
                                route->version);
    return atrous_error_set(err, ATROUS_INVALID_ARGUMENT, "model",
                            "Servable not found for request: Latest(%s)", route->model);
}

void atrous_tfs_request_init(struct atrous_tfs_request *request)
{
    memset(request, 0, sizeof(*request));
    atrous_request_init(&request->op);
}

void atrous_tfs_request_release(struct atrous_tfs_request *request)
{
    if (request == NULL)
        return;
    atrous_request_release(&request->op);
    atrous_aligned_free(request->owned);
    atrous_tfs_request_init(request);
}

/* The tensor of an instance or of "inputs": the value itself, or {"value": ...}. */
static enum atrous_status unwrap(const struct atrous__jd_value *v, const char *where,
                                 const struct atrous__jd_value **out, struct atrous_error *err)
{
    static const char *const keys[] = {"value", NULL};
    *out = v;
    if (v->kind != ATROUS__JD_OBJECT)
        return ATROUS_OK;
    const char *key = atrous__jd_unknown_key(v, keys);
    if (key != NULL)
        return atrous_error_set(err, ATROUS_INVALID_ARGUMENT, key,
                                "%s names input '%s'; the model's only input is 'value'", where,
                                key);
    if ((*out = atrous__jd_get(v, "value")) == NULL)
        return atrous_error_set(err, ATROUS_INVALID_ARGUMENT, "value", "%s lacks input 'value'",
                                where);
    return ATROUS_OK;
}

/* Allocates the value tensor of this shape, under the element limit. */
static enum atrous_status allocate_value(struct atrous_tfs_request *out,
                                         const struct atrous_shape *shape, size_t max_elements,
                                         struct atrous_error *err)
{
    size_t count;
    char text[160];
    enum atrous_status st = atrous_shape_elements(shape, "value", &count, err);
    if (st != ATROUS_OK)
        return st;
    if (count > max_elements) {
        atrous_shape_format(shape, text, sizeof(text));
        return atrous_error_set(err, ATROUS_TOO_LARGE, "value",
                                "value of shape %s has %zu elements, over the limit of %zu", text,
                                count, max_elements);
    }
    out->op.value_shape = *shape;
    if (count == 0)
        return ATROUS_OK;
    out->owned = atrous_aligned_alloc(count * sizeof(float)); /* count <= INT32_MAX */
    if (out->owned == NULL)
        return atrous_error_set(err, ATROUS_NO_MEMORY, "value", "out of memory for the value");
    out->op.value = out->owned;
    return ATROUS_OK;
}

/* Row format: a list of [H][W][IC] instances (or {"value": ...} objects), stacked into
 * [N, H, W, IC]. */
static enum atrous_status decode_instances(const struct atrous__jd_value *instances,
                                           size_t max_elements, struct atrous_tfs_request *out,
                                           struct atrous_error *err)
{
    enum atrous_status st;
    struct atrous_shape one, all;
    struct atrous__jd_value item;
    const struct atrous__jd_value *first;
    char where[48];
    if (!atrous__jd_list_at(instances, 0, &item))
        return atrous_error_set(err, ATROUS_INVALID_ARGUMENT, "instances",
                                "\"instances\" must be a non-empty list of [H][W][IC] values");
    if ((st = unwrap(&item, "instances[0]", &first, err)) ||
        (st = atrous__dom_nested_shape(first, 3, "instances[0]", &one, err)))
        return st;
    if (one.rank != 3)
        return atrous_error_set(err, ATROUS_INVALID_ARGUMENT, "value",
                                "each instance must be a [H][W][IC] nested list (value without "
                                "its batch dimension); instances[0] has %d levels",
                                one.rank);
    const int64_t dims[4] = {(int64_t)atrous__jd_list_size(instances), one.dims[0], one.dims[1],
                             one.dims[2]};
    atrous_shape_make(&all, dims, 4, NULL);
    if ((st = allocate_value(out, &all, max_elements, err)))
        return st;
    const size_t per = (size_t)(one.dims[0] * one.dims[1] * one.dims[2]); /* <= all's count */
    const bool objects = item.kind == ATROUS__JD_OBJECT;
    /* A rectangular [N][H][W][IC] list is one value whose rows are views: no copy per row. */
    for (size_t i = 0; atrous__jd_list_at(instances, i, &item); i++) {
        const struct atrous__jd_value *tensor;
        snprintf(where, sizeof(where), "instances[%zu]", i);
        if ((item.kind == ATROUS__JD_OBJECT) != objects)
            return atrous_error_set(err, ATROUS_INVALID_ARGUMENT, "instances",
                                    "instances must all be lists or all be {\"value\": ...} "
                                    "objects; %s is not like instances[0]",
                                    where);
        if ((st = unwrap(&item, where, &tensor, err)) ||
            (st = atrous__dom_read(tensor, &one, false, ATROUS__DOM_F32,
                                   per ? out->owned + i * per : NULL, where, err)))
            return st;
    }
    return ATROUS_OK;
}

/* Columnar format: one [N][H][W][IC] nested list (or {"value": ...}). */
static enum atrous_status decode_inputs(const struct atrous__jd_value *inputs, size_t max_elements,
                                        struct atrous_tfs_request *out, struct atrous_error *err)
{
    enum atrous_status st;
    struct atrous_shape shape;
    const struct atrous__jd_value *tensor;
    if ((st = unwrap(inputs, "inputs", &tensor, err)) ||
        (st = atrous__dom_nested_shape(tensor, 4, "inputs", &shape, err)))
        return st;
    if (shape.rank != 4)
        return atrous_error_set(err, ATROUS_INVALID_ARGUMENT, "value",
                                "\"inputs\" must be a [N][H][W][IC] nested list; it has %d "
                                "levels",
                                shape.rank);
    if ((st = allocate_value(out, &shape, max_elements, err)))
        return st;
    return atrous__dom_read(tensor, &shape, false, ATROUS__DOM_F32, out->owned, "inputs", err);
}

/* TF Serving's REST API has no dtype per request: the numbers are the model's declared dtype
 * (rounded to it, to nearest even, after being read as float32), the answer too, and the
 * compute precision is the model's default. */
static enum atrous_status apply_model_dtype(const struct atrous_model *model,
                                            struct atrous_request *op, struct atrous_error *err)
{
    size_t count = 0;
    op->value_dtype = op->output_dtype = model->dtype;
    op->precision = model->precision;
    if (model->dtype == ATROUS_DTYPE_FLOAT32 || op->value == NULL)
        return ATROUS_OK;
    atrous_shape_elements(&op->value_shape, "value", &count, NULL);
    /* value is the request's own storage (out->owned): rounding it in place is safe. */
    const size_t bad = atrous_dtype_quantize(model->dtype, (float *)op->value, count);
    if (bad < count)
        return atrous_error_set(err, ATROUS_INVALID_ARGUMENT, "value",
                                "value: element %zu is outside the range of model '%s''s dtype %s "
                                "(magnitude up to %g)",
                                bad, model->name, atrous_dtype_name(model->dtype),
                                (double)atrous_dtype_max(model->dtype));
    return ATROUS_OK;
}

enum atrous_status atrous_tfs_decode_predict(const struct atrous_model *model, const void *body,
                                             size_t len, const struct atrous_tfs_limits *limits,
                                             struct atrous_tfs_request *out,
                                             struct atrous_error *err)
{
    static const char *const keys[] = {"signature_name", "instances", "inputs", NULL};
    enum atrous_status st = ATROUS_OK;
    struct atrous__jd *doc = NULL;
    const struct atrous__jd_value *root;
    size_t max_json = atrous__dom_max_json(limits ? limits->max_json_bytes : 0);
    size_t max_elements = atrous__dom_max_elements(limits ? limits->max_tensor_elements : 0);

    atrous_tfs_request_init(out);
    out->model = model;
    if (len > max_json) {
        st = atrous_error_set(err, ATROUS_CONTENT_TOO_LARGE, "",
                              "the request is %zu bytes of JSON, over the limit of %zu; send "
                              "large tensors to the KServe v2 endpoint with binary data",
                              len, max_json);
        goto out;
    }
    if ((st = atrous__dom_parse(body, len, &doc, err)))
        goto out;
    root = atrous__jd_root(doc);
    if (root->kind != ATROUS__JD_OBJECT) {
        st = atrous_error_set(err, ATROUS_INVALID_ARGUMENT, "",
                              "the predict request must be a JSON object");
        goto out;
    }
    const char *unknown = atrous__jd_unknown_key(root, keys);
    if (unknown != NULL) {
        st = atrous_error_set(err, ATROUS_INVALID_ARGUMENT, unknown,
                              "unknown key \"%s\" in the predict request", unknown);
        goto out;
    }
    const struct atrous__jd_value *signature = atrous__jd_get(root, "signature_name");
    if (signature != NULL && (atrous__jd_string(signature) == NULL ||
                              strcmp(signature->u.string, ATROUS_TFS_SIGNATURE) != 0)) {
        st = atrous_error_set(err, ATROUS_INVALID_ARGUMENT, "signature_name",
                              "signature_name must be \"%s\", the model's only signature",
                              ATROUS_TFS_SIGNATURE);
        goto out;
    }
    const struct atrous__jd_value *instances = atrous__jd_get(root, "instances");
    const struct atrous__jd_value *inputs = atrous__jd_get(root, "inputs");
    if ((instances != NULL) == (inputs != NULL)) {
        st = atrous_error_set(err, ATROUS_INVALID_ARGUMENT, instances ? "inputs" : "instances",
                              "the request must have either \"instances\" (row format) or "
                              "\"inputs\" (columnar format), %s",
                              instances ? "not both" : "and has neither");
        goto out;
    }
    out->columnar = inputs != NULL;
    st = inputs ? decode_inputs(inputs, max_elements, out, err)
                : decode_instances(instances, max_elements, out, err);
    if (st == ATROUS_OK)
        st = atrous_model_fill_request(model, &out->op, err);
    if (st == ATROUS_OK)
        st = apply_model_dtype(model, &out->op, err);
out:
    atrous__jd_free(doc);
    if (st != ATROUS_OK)
        atrous_tfs_request_release(out);
    return st;
}

enum atrous_status atrous_tfs_encode_predict(const struct atrous_tfs_request *request,
                                             const struct atrous_shape *shape, const float *data,
                                             char **out, size_t *out_len, struct atrous_error *err)
{
    enum atrous_status st;
    size_t count;
    struct atrous_jw *w = NULL;
    if ((st = atrous_shape_elements(shape, "output", &count, err)))
        return st;
    if ((w = atrous_jw_create()) == NULL)
        return atrous_error_set(err, ATROUS_NO_MEMORY, "", "out of memory writing a response");
    /* A single output: TF Serving leaves its name out. The row format's list of per-instance
     * [OH][OW][OC] values is the [N][OH][OW][OC] tensor written nested, like the columnar one. */
    float *rounded = NULL;
    if (request->op.output_dtype != ATROUS_DTYPE_FLOAT32 && count > 0) {
        /* The model's 16-bit dtype: each element rounded once (a copy: data is borrowed). */
        if ((rounded = atrous_aligned_alloc(count * sizeof(float))) == NULL) {
            atrous_jw_free(w);
            return atrous_error_set(err, ATROUS_NO_MEMORY, "", "out of memory writing a response");
        }
        memcpy(rounded, data, count * sizeof(float));
        atrous_dtype_quantize(request->op.output_dtype, rounded, count);
        data = rounded;
    }
    atrous_jw_object_begin(w);
    atrous_jw_key(w, request->columnar ? "outputs" : "predictions");
    atrous__dom_write_nested(w, shape->dims, shape->rank, data);
    atrous_jw_object_end(w);
    st = atrous__dom_take(w, out, out_len, err);
    atrous_jw_free(w);
    atrous_aligned_free(rounded);
    return st;
}

static void write_version_status(struct atrous_jw *w, const struct atrous_model *m)
{
    atrous_jw_object_begin(w);
    atrous_jw_key(w, "version");
    atrous_jw_string(w, m->version);
    atrous_jw_key(w, "state");
    atrous_jw_string(w, "AVAILABLE");
    atrous_jw_key(w, "status");
    atrous_jw_object_begin(w);
    atrous_jw_key(w, "error_code");
    atrous_jw_string(w, "OK");
    atrous_jw_key(w, "error_message");
    atrous_jw_string(w, "");
    atrous_jw_object_end(w);
    atrous_jw_object_end(w);
}

char *atrous_tfs_encode_status(const struct atrous_tfs_route *route,
                               const struct atrous_model *const *versions, size_t version_count,
                               size_t *len)
{
    struct atrous_jw *w = atrous_jw_create();
    if (w == NULL)
        return NULL;
    atrous_jw_object_begin(w);
    atrous_jw_key(w, "model_version_status");
    atrous_jw_array_begin(w);
    for (size_t i = 0; i < version_count; i++) {
        const struct atrous_model *m = versions[i];
        if (route->version[0] == '\0' || strcmp(m->version, route->version) == 0)
            write_version_status(w, m);
    }
    atrous_jw_array_end(w);
    atrous_jw_object_end(w);
    return atrous__dom_finish(w, len);
}

/* One TensorInfo: {"dtype": "DT_FLOAT", "tensor_shape": {"dim": [{"size": "-1", "name": ""},
 * ...], "unknown_rank": false}, "name": "value:0"} (int64 sizes as strings, proto3 JSON). */
static void write_tensor_info(struct atrous_jw *w, const char *key, const int64_t dims[4],
                              enum atrous_dtype dtype)
{
    static const char *const tf_types[ATROUS_DTYPE_COUNT] = {"DT_FLOAT", "DT_BFLOAT16", "DT_HALF"};
    char text[32];
    atrous_jw_key(w, key);
    atrous_jw_object_begin(w);
    atrous_jw_key(w, "dtype");
    atrous_jw_string(w, tf_types[dtype]);
    atrous_jw_key(w, "tensor_shape");
    atrous_jw_object_begin(w);
    atrous_jw_key(w, "dim");
    atrous_jw_array_begin(w);
    for (int i = 0; i < 4; i++) {
        snprintf(text, sizeof(text), "%" PRId64, dims[i]);
        atrous_jw_object_begin(w);
        atrous_jw_key(w, "size");
        atrous_jw_string(w, text);
        atrous_jw_key(w, "name");
        atrous_jw_string(w, "");
        atrous_jw_object_end(w);
    }
    atrous_jw_array_end(w);
    atrous_jw_key(w, "unknown_rank");
    atrous_jw_bool(w, false);
    atrous_jw_object_end(w);
    snprintf(text, sizeof(text), "%s:0", key);
    atrous_jw_key(w, "name");
    atrous_jw_string(w, text);
    atrous_jw_object_end(w);
}

char *atrous_tfs_encode_metadata(const struct atrous_model *model, size_t *len)
{
    int64_t input[4], output[4];
    struct atrous_jw *w = atrous_jw_create();
    if (w == NULL)
        return NULL;
    atrous_model_io_dims(model, input, output);
    atrous_jw_object_begin(w);
    atrous_jw_key(w, "model_spec");
    atrous_jw_object_begin(w);
    atrous_jw_key(w, "name");
    atrous_jw_string(w, model->name);
    atrous_jw_key(w, "signature_name");
    atrous_jw_string(w, "");
    atrous_jw_key(w, "version");
    atrous_jw_string(w, model->version);
    atrous_jw_object_end(w);
    atrous_jw_key(w, "metadata");
    atrous_jw_object_begin(w);
    atrous_jw_key(w, "signature_def");
    atrous_jw_object_begin(w);
    atrous_jw_key(w, "signature_def");
    atrous_jw_object_begin(w);
    atrous_jw_key(w, ATROUS_TFS_SIGNATURE);
    atrous_jw_object_begin(w);
    atrous_jw_key(w, "inputs");
    atrous_jw_object_begin(w);
    write_tensor_info(w, "value", input, model->dtype);
    atrous_jw_object_end(w);
    atrous_jw_key(w, "outputs");
    atrous_jw_object_begin(w);
    write_tensor_info(w, "output", output, model->dtype);
    atrous_jw_object_end(w);
    atrous_jw_key(w, "method_name");
    atrous_jw_string(w, "tensorflow/serving/predict");
    atrous_jw_object_end(w);
    atrous_jw_object_end(w);
    atrous_jw_object_end(w);
    atrous_jw_object_end(w);
    atrous_jw_object_end(w);
    return atrous__dom_finish(w, len);
}
