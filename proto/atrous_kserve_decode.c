/*
 * atrous_kserve_decode.c - the KServe v2 inference request (JSON and Triton's binary tensor
 * extension) decoded into the native struct atrous_request, and the
 * Inference-Header-Content-Length parser.
 */
#include "atrous_kserve.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atrous_kserve_dom.h"

/* Binary FP32 parts are used in place: the host must read '<f4' natively. */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "binary tensors are little-endian");

enum input_name {
    IN_VALUE,
    IN_FILTERS,
    IN_OUTPUT_SHAPE,
    IN_RATE,
    IN_PADDING,
    IN_COUNT,
};

static const char *const input_names[IN_COUNT] = {"value", "filters", "output_shape", "rate",
                                                  "padding"};

/* The decoding in progress. */
struct decode {
    const struct atrous_model *model;
    const unsigned char *body;
    size_t len;
    bool has_header; /* Inference-Header-Content-Length was given */
    size_t offset;   /* the next unread binary byte */
    size_t max_elements;
    bool seen[IN_COUNT];
    struct atrous_kserve_request *out;
    struct atrous_error *err;
};

/* One input as the JSON describes it. */
struct input {
    enum input_name which;
    const char *name;
    struct atrous_shape shape;
    size_t count;
    const char *datatype;
    const struct atrous__jd_value *data;
    bool binary;
    int64_t binary_size;
};

void atrous_kserve_request_init(struct atrous_kserve_request *request)
{
    memset(request, 0, sizeof(*request));
    atrous_request_init(&request->op);
}

void atrous_kserve_request_release(struct atrous_kserve_request *request)
{
    if (request == NULL)
        return;
    atrous_request_release(&request->op);
    free(request->id);
    for (size_t i = 0; i < sizeof(request->owned) / sizeof(request->owned[0]); i++)
        atrous_aligned_free(request->owned[i]);
    atrous_kserve_request_init(request);
}

static enum atrous_status invalid(struct decode *d, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static enum atrous_status invalid(struct decode *d, const char *field, const char *fmt, ...)
{
    char message[ATROUS_ERROR_MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    return atrous_error_set(d->err, ATROUS_INVALID_ARGUMENT, field, "%s", message);
}

/* Parses the Inference-Header-Content-Length value: decimal digits, at most the body. */
enum atrous_status atrous_kserve_parse_header_length(const char *text, uint64_t *out,
                                                     struct atrous_error *err)
{
    uint64_t v = 0;
    size_t digits = 0;
    const char *p = text;
    while (*p == ' ' || *p == '\t')
        p++;
    for (; *p >= '0' && *p <= '9'; p++, digits++)
        if (__builtin_mul_overflow(v, 10, &v) ||
            __builtin_add_overflow(v, (uint64_t)(*p - '0'), &v))
            return atrous_error_set(err, ATROUS_INVALID_ARGUMENT, "Inference-Header-Content-Length",
                                    "Inference-Header-Content-Length %.40s is not a byte count "
                                    "the body can have",
                                    text);
    while (*p == ' ' || *p == '\t')
        p++;
    if (digits == 0 || *p != '\0')
        return atrous_error_set(err, ATROUS_INVALID_ARGUMENT, "Inference-Header-Content-Length",
                                "Inference-Header-Content-Length must be a decimal byte count, "
                                "got '%.40s'",
                                text);
    *out = v;
    return ATROUS_OK;
}

/* Rejects members of obj that are not in names (NULL-terminated). */
static enum atrous_status known_keys(struct decode *d, const struct atrous__jd_value *obj,
                                     const char *const *names, const char *where)
{
    const char *key = atrous__jd_unknown_key(obj, names);
    return key ? invalid(d, key, "unknown key \"%s\" in %s", key, where) : ATROUS_OK;
}

/* Takes size bytes of binary data for an input. */
static enum atrous_status take_part(struct decode *d, const struct input *in,
                                    const unsigned char **out)
{
    if (!d->has_header)
        return invalid(d, in->name,
                       "input '%s' has binary_data_size, but the request has no "
                       "Inference-Header-Content-Length header",
                       in->name);
    if ((uint64_t)in->binary_size > d->len - d->offset)
        return invalid(d, in->name,
                       "input '%s': binary_data_size %" PRId64 " runs past the end of the body "
                       "(%zu bytes left after the JSON header and the inputs before it)",
                       in->name, in->binary_size, d->len - d->offset);
    *out = d->body + d->offset;
    d->offset += (size_t)in->binary_size;
    return ATROUS_OK;
}

/* Checks binary_data_size against count elements of elem_size bytes, then takes the part. */
static enum atrous_status take_sized_part(struct decode *d, const struct input *in,
                                          size_t elem_size, const unsigned char **out)
{
    size_t expected;
    if (__builtin_mul_overflow(in->count, elem_size, &expected) ||
        (uint64_t)in->binary_size != expected) {
        char text[160];
        atrous_shape_format(&in->shape, text, sizeof(text));
        return invalid(d, in->name,
                       "input '%s': binary_data_size %" PRId64 " does not match shape %s of %s "
                       "(%zu elements of %zu bytes)",
                       in->name, in->binary_size, text, in->datatype, in->count, elem_size);
    }
    return take_part(d, in, out);
}

static enum atrous_status need_datatype(struct decode *d, const struct input *in, const char *a,
                                        const char *b)
{
    if (strcmp(in->datatype, a) == 0 || (b != NULL && strcmp(in->datatype, b) == 0))
        return ATROUS_OK;
    return invalid(d, in->name, "input '%s' must be %s%s%s, got %s", in->name, a, b ? " or " : "",
                   b ? b : "", in->datatype);
}

/* value or filters: FP32, BF16 or FP16 data, widened to float32. FP32 binary parts are used in
 * place when aligned; everything else becomes an aligned float32 copy: 16-bit parts widened
 * exactly, JSON numbers read as float32 and rounded to the datatype. */
static enum atrous_status decode_float(struct decode *d, const struct input *in, const float **out,
                                       enum atrous_dtype *dtype)
{
    enum atrous_status st;
    size_t limit = d->max_elements;
    if (!atrous_dtype_parse_kserve(in->datatype, strlen(in->datatype), dtype))
        return invalid(
            d, in->name,
            "input '%s' has datatype %.32s: the accepted datatypes are " ATROUS_DTYPE_KSERVE_NAMES
            "; cast the tensor to one of them",
            in->name, in->datatype);
    if (in->count > limit) {
        char text[160];
        atrous_shape_format(&in->shape, text, sizeof(text));
        return atrous_error_set(d->err, ATROUS_TOO_LARGE, in->name,
                                "input '%s' of shape %s has %zu elements, over the limit of %zu",
                                in->name, text, in->count, limit);
    }
    const unsigned char *part = NULL;
    if (in->binary && (st = take_sized_part(d, in, atrous_dtype_size(*dtype), &part)))
        return st;
    if (in->binary && *dtype == ATROUS_DTYPE_FLOAT32 && (uintptr_t)part % _Alignof(float) == 0) {
        *out = (const float *)(const void *)part;
        return ATROUS_OK;
    }
    if (in->count == 0) {
        *out = NULL;
        return in->binary ? ATROUS_OK
                          : atrous__dom_read(in->data, &in->shape, true, ATROUS__DOM_F32, NULL,
                                             in->name, d->err);
    }
    float *copy = atrous_aligned_alloc(in->count * sizeof(float)); /* count <= INT32_MAX */
    if (copy == NULL)
        return atrous_error_set(d->err, ATROUS_NO_MEMORY, in->name, "out of memory for input '%s'",
                                in->name);
    d->out->owned[in->which] = copy; /* value and filters use owned[0] and owned[1] */
    if (in->binary) {
        atrous_dtype_widen(*dtype, part, copy, in->count);
    } else {
        if ((st = atrous__dom_read(in->data, &in->shape, true, ATROUS__DOM_F32, copy, in->name,
                                   d->err)))
            return st;
        const size_t bad = atrous_dtype_quantize(*dtype, copy, in->count);
        if (bad < in->count)
            return invalid(d, in->name,
                           "input '%s': element %zu is outside the %s range (magnitude up to "
                           "%g; send Infinity or -Infinity for infinite values)",
                           in->name, bad, in->datatype, (double)atrous_dtype_max(*dtype));
    }
    *out = copy;
    return ATROUS_OK;
}

static int64_t read_le(const unsigned char *p, size_t size)
{
    uint64_t v = 0;
    for (size_t i = 0; i < size; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return size == 4 ? (int64_t)(int32_t)(uint32_t)v : (int64_t)v;
}

/* output_shape and rate: INT32 or INT64 integers into out (at most cap of them). */
static enum atrous_status decode_ints(struct decode *d, const struct input *in, int64_t *out,
                                      size_t cap)
{
    enum atrous_status st;
    if ((st = need_datatype(d, in, "INT32", "INT64")))
        return st;
    bool i32 = strcmp(in->datatype, "INT32") == 0;
    if (in->count > cap)
        return invalid(d, in->name, "input '%s' has %zu elements; it takes %s", in->name, in->count,
                       in->which == IN_RATE ? "1" : "4");
    if (in->binary) {
        const unsigned char *part;
        size_t size = i32 ? 4 : 8;
        if ((st = take_sized_part(d, in, size, &part)))
            return st;
        for (size_t i = 0; i < in->count; i++)
            out[i] = read_le(part + i * size, size);
        return ATROUS_OK;
    }
    if (!i32)
        return atrous__dom_read(in->data, &in->shape, true, ATROUS__DOM_I64, out, in->name, d->err);
    int32_t narrow[ATROUS_OUTPUT_SHAPE_LEN_MAX];
    if ((st = atrous__dom_read(in->data, &in->shape, true, ATROUS__DOM_I32, narrow, in->name,
                               d->err)))
        return st;
    for (size_t i = 0; i < in->count; i++)
        out[i] = narrow[i];
    return ATROUS_OK;
}

static void set_padding(struct atrous_request *op, const char *text, size_t len)
{
    size_t keep = len < ATROUS_PADDING_MAX ? len : ATROUS_PADDING_MAX;
    memcpy(op->padding, text, keep);
    op->padding[keep] = '\0';
    op->padding_len = len;
}

/* padding: BYTES [1], a JSON string or a 4-byte length and the bytes. */
static enum atrous_status decode_padding(struct decode *d, const struct input *in)
{
    enum atrous_status st;
    if ((st = need_datatype(d, in, "BYTES", NULL)))
        return st;
    if (in->count != 1)
        return invalid(d, in->name, "input 'padding' has %zu elements; it takes 1", in->count);
    if (in->binary) {
        const unsigned char *part;
        if (in->binary_size < 4)
            return invalid(d, in->name,
                           "input 'padding': binary_data_size %" PRId64 " is too small for a "
                           "BYTES element (4-byte length, then the bytes)",
                           in->binary_size);
        if ((st = take_part(d, in, &part)))
            return st;
        size_t n = (uint32_t)read_le(part, 4);
        if (n != (size_t)in->binary_size - 4)
            return invalid(d, in->name,
                           "input 'padding': the BYTES element says %zu bytes, binary_data_size "
                           "leaves %" PRId64,
                           n, in->binary_size - 4);
        set_padding(&d->out->op, (const char *)part + 4, n);
        return ATROUS_OK;
    }
    struct atrous__jd_value s;
    bool one = atrous__jd_list_size(in->data) == 1 && atrous__jd_list_at(in->data, 0, &s);
    while (one && atrous__jd_list_size(&s) == 1) /* nested [["SAME"]] */
        atrous__jd_list_at(&s, 0, &s);
    if (!one || atrous__jd_string(&s) == NULL)
        return invalid(d, in->name, "input 'padding' data must be one string, such as [\"SAME\"]");
    set_padding(&d->out->op, s.u.string, s.size);
    return ATROUS_OK;
}

/* Reads the JSON description of inputs[index] into *in. */
static enum atrous_status describe_input(struct decode *d, const struct atrous__jd_value *obj,
                                         size_t index, struct input *in)
{
    static const char *const keys[] = {"name", "shape", "datatype", "parameters", "data", NULL};
    enum atrous_status st;
    char where[32];
    snprintf(where, sizeof(where), "inputs[%zu]", index);
    memset(in, 0, sizeof(*in));
    if (obj->kind != ATROUS__JD_OBJECT)
        return invalid(d, "inputs", "%s must be an object, got %s", where,
                       atrous__jd_kind_name(obj));
    if ((st = known_keys(d, obj, keys, where)))
        return st;
    in->name = atrous__jd_string(atrous__jd_get(obj, "name"));
    if (in->name == NULL)
        return invalid(d, "inputs", "%s needs a \"name\" string", where);
    in->which = IN_COUNT;
    for (int i = 0; i < IN_COUNT; i++)
        if (strcmp(in->name, input_names[i]) == 0)
            in->which = (enum input_name)i;
    if (in->which == IN_COUNT || (d->model != NULL && in->which != IN_VALUE))
        return invalid(d, "inputs", "unknown input '%.64s': model '%s' takes %s", in->name,
                       d->model ? d->model->name : ATROUS_GENERIC_MODEL_NAME,
                       d->model ? "only 'value'"
                                : "'value', 'filters', 'output_shape', 'rate' and 'padding'");
    if (d->seen[in->which])
        return invalid(d, in->name, "input '%s' is given twice", in->name);
    d->seen[in->which] = true;

    const struct atrous__jd_value *shape = atrous__jd_get(obj, "shape");
    if (!atrous__jd_is_list(shape) || atrous__jd_list_size(shape) > ATROUS_MAX_RANK)
        return invalid(d, in->name, "input '%s' needs a \"shape\": a list of at most %d integers",
                       in->name, ATROUS_MAX_RANK);
    in->shape.rank = (int)atrous__jd_list_size(shape);
    for (int i = 0; i < in->shape.rank; i++) {
        struct atrous__jd_value dim;
        atrous__jd_list_at(shape, (size_t)i, &dim);
        if (!atrous__jd_integer(&dim, &in->shape.dims[i]) || in->shape.dims[i] < 0)
            return invalid(d, in->name, "input '%s': shape[%d] must be an integer >= 0", in->name,
                           i);
    }
    if ((st = atrous_shape_elements(&in->shape, in->name, &in->count, d->err)))
        return st;
    in->datatype = atrous__jd_string(atrous__jd_get(obj, "datatype"));
    if (in->datatype == NULL)
        return invalid(d, in->name, "input '%s' needs a \"datatype\" string", in->name);

    const struct atrous__jd_value *params = atrous__jd_get(obj, "parameters");
    const struct atrous__jd_value *size = atrous__jd_get(params, "binary_data_size");
    if (params != NULL && params->kind != ATROUS__JD_OBJECT)
        return invalid(d, in->name, "input '%s': \"parameters\" must be an object", in->name);
    if (size != NULL && (!atrous__jd_integer(size, &in->binary_size) || in->binary_size < 0))
        return invalid(d, in->name, "input '%s': binary_data_size must be an integer >= 0",
                       in->name);
    in->data = atrous__jd_get(obj, "data");
    in->binary = size != NULL;
    if (in->binary && in->data != NULL)
        return invalid(d, in->name, "input '%s' has both \"data\" and binary_data_size", in->name);
    if (!in->binary && in->data == NULL)
        return invalid(d, in->name,
                       "input '%s' has no data: give \"data\" or the binary_data_size parameter",
                       in->name);
    return ATROUS_OK;
}

static enum atrous_status decode_input(struct decode *d, const struct atrous__jd_value *obj,
                                       size_t index)
{
    struct input in;
    int64_t rate[1];
    enum atrous_status st = describe_input(d, obj, index, &in);
    if (st != ATROUS_OK)
        return st;
    struct atrous_request *op = &d->out->op;
    switch (in.which) {
    case IN_VALUE:
        op->value_shape = in.shape;
        return decode_float(d, &in, &op->value, &op->value_dtype);
    case IN_FILTERS:
        op->filters_shape = in.shape;
        return decode_float(d, &in, &op->filters, &op->filters_dtype);
    case IN_OUTPUT_SHAPE: {
        int64_t dims[ATROUS_OUTPUT_SHAPE_LEN_MAX];
        if (in.shape.rank != 1) {
            char text[160];
            atrous_shape_format(&in.shape, text, sizeof(text));
            return invalid(d, in.name, "input 'output_shape' must be 1-D ([4]), got shape %s",
                           text);
        }
        if ((st = decode_ints(d, &in, dims, ATROUS_OUTPUT_SHAPE_LEN_MAX)))
            return st;
        memcpy(op->output_shape, dims,
               (in.count < ATROUS_MAX_RANK ? in.count : ATROUS_MAX_RANK) * sizeof(int64_t));
        op->output_shape_len = in.count;
        return ATROUS_OK;
    }
    case IN_RATE:
        if (in.count != 1)
            return invalid(d, in.name, "input 'rate' has %zu elements; it takes 1", in.count);
        if ((st = decode_ints(d, &in, rate, 1)))
            return st;
        op->rate = rate[0];
        return ATROUS_OK;
    case IN_PADDING:
        return decode_padding(d, &in);
    default:
        return ATROUS_INTERNAL;
    }
}

/* Request-level "parameters": binary_data_output, and rate / padding. */
static enum atrous_status decode_parameters(struct decode *d, const struct atrous__jd_value *params,
                                            bool *binary_output)
{
    if (params == NULL)
        return ATROUS_OK;
    if (params->kind != ATROUS__JD_OBJECT)
        return invalid(d, "parameters", "\"parameters\" must be an object");
    const struct atrous__jd_value *binary = atrous__jd_get(params, "binary_data_output");
    const struct atrous__jd_value *rate = atrous__jd_get(params, "rate");
    const struct atrous__jd_value *padding = atrous__jd_get(params, "padding");
    const struct atrous__jd_value *precision =
        atrous__jd_get(params, ATROUS_KSERVE_PARAM_PRECISION);
    struct atrous_request *op = &d->out->op;
    int64_t rate_value = 0;
    *binary_output = false;
    if (binary != NULL && !atrous__jd_boolean(binary, binary_output))
        return invalid(d, "binary_data_output", "parameter binary_data_output must be a boolean");
    if (precision != NULL) {
        const char *text = atrous__jd_string(precision);
        if (text == NULL || !atrous_precision_parse(text, precision->size, &op->precision))
            return invalid(d, "precision",
                           "parameter precision must be \"f32\" (strict, the default) or "
                           "\"bf16\" (bfloat16 compute, float32 accumulation)");
        d->out->has_precision = true;
    }
    if (rate != NULL && !atrous__jd_integer(rate, &rate_value))
        return invalid(d, "rate", "parameter rate must be an integer");
    if (padding != NULL && atrous__jd_string(padding) == NULL)
        return invalid(d, "padding", "parameter padding must be a string");
    if (d->model != NULL) {
        if (rate && rate_value != d->model->rate)
            return invalid(d, "rate",
                           "model '%s' has rate %" PRId64 "; the rate parameter %" PRId64
                           " differs",
                           d->model->name, d->model->rate, rate_value);
        if (padding &&
            strcmp(atrous__jd_string(padding), atrous_padding_name(d->model->padding)) != 0)
            return invalid(d, "padding",
                           "model '%s' has padding %s; the padding parameter "
                           "differs",
                           d->model->name, atrous_padding_name(d->model->padding));
        return ATROUS_OK;
    }
    if (rate != NULL) {
        if (d->seen[IN_RATE])
            return invalid(d, "rate", "rate is given both as an input and as a parameter");
        d->seen[IN_RATE] = true;
        op->rate = rate_value;
    }
    if (padding != NULL) {
        if (d->seen[IN_PADDING])
            return invalid(d, "padding", "padding is given both as an input and as a parameter");
        d->seen[IN_PADDING] = true;
        set_padding(op, padding->u.string, padding->size);
    }
    return ATROUS_OK;
}

/* "outputs": which outputs, and whether "output" goes back as binary data. */
static enum atrous_status decode_outputs(struct decode *d, const struct atrous__jd_value *outputs,
                                         bool *binary_output, bool *output_dtype_set)
{
    static const char *const keys[] = {"name", "parameters", NULL};
    enum atrous_status st;
    if (outputs == NULL)
        return ATROUS_OK;
    if (!atrous__jd_is_list(outputs))
        return invalid(d, "outputs", "\"outputs\" must be a list");
    struct atrous__jd_value item;
    for (size_t i = 0; atrous__jd_list_at(outputs, i, &item); i++) {
        const struct atrous__jd_value *o = &item;
        if (o->kind != ATROUS__JD_OBJECT)
            return invalid(d, "outputs", "outputs[%zu] must be an object", i);
        if ((st = known_keys(d, o, keys, "outputs")))
            return st;
        const char *name = atrous__jd_string(atrous__jd_get(o, "name"));
        if (name == NULL || strcmp(name, "output") != 0)
            return invalid(d, "outputs",
                           "unknown output '%.64s': the model has one output, "
                           "'output'",
                           name ? name : "(no name)");
        if (i > 0)
            return invalid(d, "outputs", "output 'output' is requested twice");
        const struct atrous__jd_value *params = atrous__jd_get(o, "parameters");
        if (params != NULL && params->kind != ATROUS__JD_OBJECT)
            return invalid(d, "outputs", "outputs[%zu].parameters must be an object", i);
        const struct atrous__jd_value *binary = atrous__jd_get(params, "binary_data");
        bool value = false;
        if (binary != NULL && !atrous__jd_boolean(binary, &value))
            return invalid(d, "outputs", "output parameter binary_data must be a boolean");
        const struct atrous__jd_value *datatype =
            atrous__jd_get(params, ATROUS_KSERVE_PARAM_DATATYPE);
        if (datatype != NULL) {
            const char *text = atrous__jd_string(datatype);
            if (text == NULL ||
                !atrous_dtype_parse_kserve(text, datatype->size, &d->out->op.output_dtype))
                return invalid(
                    d, "output_dtype",
                    "output parameter datatype must be one of " ATROUS_DTYPE_KSERVE_NAMES);
            *output_dtype_set = true;
        }
        if (atrous__jd_get(params, "classification") != NULL)
            return invalid(d, "outputs", "the classification extension is not supported");
        if (binary != NULL)
            *binary_output = value;
    }
    return ATROUS_OK;
}

/* What the model supplies, and what a generic request must have given. */
static enum atrous_status complete(struct decode *d)
{
    struct atrous_request *op = &d->out->op;
    const struct atrous_model *m = d->model;
    if (m != NULL) {
        if (!d->seen[IN_VALUE])
            return invalid(d, "value", "missing input 'value'");
        return atrous_model_fill_request(m, op, d->err);
    }
    for (int i = 0; i < IN_COUNT; i++)
        if (!d->seen[i])
            return invalid(d, input_names[i], "missing input '%s'%s", input_names[i],
                           i >= IN_RATE ? " (an input, or the request parameter of that name)"
                                        : "");
    return ATROUS_OK;
}

enum atrous_status atrous_kserve_decode_infer(const struct atrous_model *model, const void *body,
                                              size_t len, const uint64_t *header_length,
                                              const struct atrous_kserve_limits *limits,
                                              struct atrous_kserve_request *out,
                                              struct atrous_error *err)
{
    static const char *const keys[] = {"id",         "parameters",    "inputs", "outputs",
                                       "model_name", "model_version", NULL};
    enum atrous_status st = ATROUS_OK;
    struct atrous__jd *doc = NULL;
    const struct atrous__jd_value *root;
    struct atrous__jd_value item;
    size_t json_len = len;
    size_t max_json = atrous__dom_max_json(limits ? limits->max_json_bytes : 0);
    size_t max_elements = atrous__dom_max_elements(limits ? limits->max_tensor_elements : 0);
    struct decode d = {model, body, len, header_length != NULL, 0, max_elements, {0}, out, err};
    bool binary_output = false, output_dtype_set = false;

    atrous_kserve_request_init(out);
    out->model = model;
    if (header_length != NULL) {
        if (*header_length > len) {
            st = atrous_error_set(err, ATROUS_INVALID_ARGUMENT, "Inference-Header-Content-Length",
                                  "Inference-Header-Content-Length %" PRIu64 " exceeds the "
                                  "body's %zu bytes",
                                  *header_length, len);
            goto out;
        }
        json_len = (size_t)*header_length;
    }
    if (json_len > max_json) {
        st = atrous_error_set(err, ATROUS_CONTENT_TOO_LARGE, "",
                              "the JSON part of the request is %zu bytes, over the limit of %zu; "
                              "send large tensors with the binary tensor extension",
                              json_len, max_json);
        goto out;
    }
    if ((st = atrous__dom_parse(body, json_len, &doc, err)))
        goto out;
    root = atrous__jd_root(doc);
    d.offset = json_len;
    if (root->kind != ATROUS__JD_OBJECT) {
        st = invalid(&d, "", "the inference request must be a JSON object");
        goto out;
    }
    if ((st = known_keys(&d, root, keys, "the inference request")))
        goto out;
    const struct atrous__jd_value *id = atrous__jd_get(root, "id");
    if (id != NULL) {
        if (atrous__jd_string(id) == NULL || id->size > ATROUS_KSERVE_ID_MAX) {
            st = invalid(&d, "id", "\"id\" must be a string of at most %d bytes",
                         ATROUS_KSERVE_ID_MAX);
            goto out;
        }
        if ((out->id = strdup(id->u.string)) == NULL) {
            st = atrous_error_set(err, ATROUS_NO_MEMORY, "", "out of memory");
            goto out;
        }
    }
    const struct atrous__jd_value *inputs = atrous__jd_get(root, "inputs");
    if (atrous__jd_list_size(inputs) == 0) {
        st = invalid(&d, "inputs", "\"inputs\" must be a non-empty list");
        goto out;
    }
    for (size_t i = 0; atrous__jd_list_at(inputs, i, &item); i++)
        if ((st = decode_input(&d, &item, i)))
            goto out;
    if (d.offset != len) {
        st = invalid(&d, "",
                     "the body has %zu bytes after the JSON header and the inputs' "
                     "binary data",
                     len - d.offset);
        goto out;
    }
    if ((st = decode_parameters(&d, atrous__jd_get(root, "parameters"), &binary_output)) ||
        (st = decode_outputs(&d, atrous__jd_get(root, "outputs"), &binary_output,
                             &output_dtype_set)) ||
        (st = complete(&d)))
        goto out;
    out->binary_output = binary_output;
    /* The output has the value's datatype unless the requested output asks another; the
     * compute, the request's precision, else the model's default. */
    if (!output_dtype_set)
        out->op.output_dtype = out->op.value_dtype;
    if (!out->has_precision && model != NULL)
        out->op.precision = model->precision;
out:
    atrous__jd_free(doc);
    if (st != ATROUS_OK)
        atrous_kserve_request_release(out);
    return st;
}
