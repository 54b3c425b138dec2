/*
 * atrous_kserve_meta.c - the KServe v2 documents: server metadata, health, model readiness,
 * model metadata and Triton's model configuration.
 */
#include "atrous_kserve.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>

#include "atrous_json_writer.h"
#include "atrous_kserve_dom.h"
#include "atrous_kserve_internal.h"

/* A new writer with {"name": name opened; NULL on out of memory. */
static struct atrous_jw *open_document(const char *name)
{
    struct atrous_jw *w = atrous_jw_create();
    if (w == NULL)
        return NULL;
    atrous_jw_object_begin(w);
    atrous_jw_key(w, "name");
    atrous_jw_string(w, name);
    return w;
}

char *atrous_kserve_encode_server_metadata(const char *name, const char *version, size_t *len)
{
    return atrous_kserve_encode_server_metadata_caps(name, version, false, false, len);
}

char *atrous_kserve_encode_server_metadata_caps(const char *name, const char *version, bool bf16,
                                                bool amx, size_t *len)
{
    static const char *const extensions[] = ATROUS_KSERVE_EXTENSIONS;
    struct atrous_jw *w = open_document(name);
    if (w == NULL)
        return NULL;
    atrous_jw_key(w, "version");
    atrous_jw_string(w, version);
    atrous_jw_key(w, "extensions");
    atrous_jw_array_begin(w);
    for (size_t i = 0; i < sizeof(extensions) / sizeof(extensions[0]); i++)
        atrous_jw_string(w, extensions[i]);
    atrous_jw_array_end(w);
    atrous_jw_key(w, "datatypes");
    atrous_jw_array_begin(w);
    for (int i = 0; i < ATROUS_DTYPE_COUNT; i++)
        atrous_jw_string(w, atrous_dtype_kserve_name((enum atrous_dtype)i));
    atrous_jw_array_end(w);
    atrous_jw_key(w, "bf16");
    atrous_jw_bool(w, bf16);
    atrous_jw_key(w, "amx");
    atrous_jw_bool(w, amx);
    atrous_jw_object_end(w);
    return atrous__dom_finish(w, len);
}

/* {"<key>": value} */
static char *encode_flag(const char *key, bool value, size_t *len)
{
    struct atrous_jw *w = atrous_jw_create();
    if (w == NULL)
        return NULL;
    atrous_jw_object_begin(w);
    atrous_jw_key(w, key);
    atrous_jw_bool(w, value);
    atrous_jw_object_end(w);
    return atrous__dom_finish(w, len);
}

char *atrous_kserve_encode_live(bool live, size_t *len)
{
    return encode_flag("live", live, len);
}

char *atrous_kserve_encode_ready(bool ready, size_t *len)
{
    return encode_flag("ready", ready, len);
}

char *atrous_kserve_encode_model_ready(const struct atrous_model *model, bool ready, size_t *len)
{
    struct atrous_jw *w = open_document(atrous__kserve_model_name(model));
    if (w == NULL)
        return NULL;
    atrous_jw_key(w, "version");
    atrous_jw_string(w, atrous__kserve_model_version(model));
    atrous_jw_key(w, "ready");
    atrous_jw_bool(w, ready);
    atrous_jw_object_end(w);
    return atrous__dom_finish(w, len);
}

/* The tensors a model takes and gives: name, datatypes (v2 and config spellings), dims. */
struct tensor_desc {
    const char *name, *datatype, *config_type;
    int64_t dims[4];
    int rank;
    bool optional;
};

/* The generic model's inputs, then its output. */
static const struct tensor_desc generic_tensors[] = {
    {"value", "FP32", "TYPE_FP32", {-1, -1, -1, -1}, 4, false},
    {"filters", "FP32", "TYPE_FP32", {-1, -1, -1, -1}, 4, false},
    {"output_shape", "INT64", "TYPE_INT64", {4}, 1, false},
    {"rate", "INT32", "TYPE_INT32", {1}, 1, true},
    {"padding", "BYTES", "TYPE_STRING", {1}, 1, true},
    {"output", "FP32", "TYPE_FP32", {-1, -1, -1, -1}, 4, false},
};
#define GENERIC_INPUTS 5

/* A repository model's input and output: fixed dims where the config fixes them. */
static void model_tensors(const struct atrous_model *m, struct tensor_desc out[2])
{
    static const char *const config_types[ATROUS_DTYPE_COUNT] = {"TYPE_FP32", "TYPE_BF16",
                                                                 "TYPE_FP16"};
    const char *datatype = atrous_dtype_kserve_name(m->dtype);
    const char *config_type = config_types[m->dtype];
    out[0] = (struct tensor_desc){"value", datatype, config_type, {0}, 4, false};
    out[1] = (struct tensor_desc){"output", datatype, config_type, {0}, 4, false};
    atrous_model_io_dims(m, out[0].dims, out[1].dims);
}

static void write_metadata_tensors(struct atrous_jw *w, const char *key,
                                   const struct tensor_desc *t, size_t count)
{
    atrous_jw_key(w, key);
    atrous_jw_array_begin(w);
    for (size_t i = 0; i < count; i++) {
        atrous_jw_object_begin(w);
        atrous_jw_key(w, "name");
        atrous_jw_string(w, t[i].name);
        atrous_jw_key(w, "datatype");
        atrous_jw_string(w, t[i].datatype);
        atrous_jw_key(w, "shape");
        atrous__kserve_write_dims(w, t[i].dims, t[i].rank);
        atrous_jw_object_end(w);
    }
    atrous_jw_array_end(w);
}

char *atrous_kserve_encode_model_metadata(const struct atrous_model *model,
                                          const struct atrous_model *const *versions,
                                          size_t version_count, size_t *len)
{
    struct tensor_desc tensors[2];
    struct atrous_jw *w = open_document(atrous__kserve_model_name(model));
    if (w == NULL)
        return NULL;
    atrous_jw_key(w, "versions");
    atrous_jw_array_begin(w);
    if (model == NULL) {
        atrous_jw_string(w, ATROUS_GENERIC_MODEL_VERSION);
    } else {
        for (size_t i = 0; i < version_count; i++)
            atrous_jw_string(w, versions[i]->version);
    }
    atrous_jw_array_end(w);
    atrous_jw_key(w, "platform");
    atrous_jw_string(w, ATROUS_KSERVE_PLATFORM);
    if (model == NULL) {
        write_metadata_tensors(w, "inputs", generic_tensors, GENERIC_INPUTS);
        write_metadata_tensors(w, "outputs", generic_tensors + GENERIC_INPUTS, 1);
    } else {
        model_tensors(model, tensors);
        write_metadata_tensors(w, "inputs", tensors, 1);
        write_metadata_tensors(w, "outputs", tensors + 1, 1);
    }
    atrous_jw_object_end(w);
    return atrous__dom_finish(w, len);
}

/* Triton's config form: data_type, and dims without the batch dimension when batching. */
static void write_config_tensors(struct atrous_jw *w, const char *key, const struct tensor_desc *t,
                                 size_t count, bool batched)
{
    atrous_jw_key(w, key);
    atrous_jw_array_begin(w);
    for (size_t i = 0; i < count; i++) {
        int skip = batched && t[i].rank == 4 ? 1 : 0;
        atrous_jw_object_begin(w);
        atrous_jw_key(w, "name");
        atrous_jw_string(w, t[i].name);
        atrous_jw_key(w, "data_type");
        atrous_jw_string(w, t[i].config_type);
        atrous_jw_key(w, "dims");
        atrous__kserve_write_dims(w, t[i].dims + skip, t[i].rank - skip);
        if (t[i].optional) {
            atrous_jw_key(w, "optional");
            atrous_jw_bool(w, true);
        }
        atrous_jw_object_end(w);
    }
    atrous_jw_array_end(w);
}

static void write_string_parameter(struct atrous_jw *w, const char *key, const char *value)
{
    atrous_jw_key(w, key);
    atrous_jw_object_begin(w);
    atrous_jw_key(w, "string_value");
    atrous_jw_string(w, value);
    atrous_jw_object_end(w);
}

char *atrous_kserve_encode_model_config(const struct atrous_model *model, size_t *len)
{
    struct tensor_desc tensors[2];
    char text[160];
    bool batched = model != NULL && model->max_batch_size > 0;
    struct atrous_jw *w = open_document(atrous__kserve_model_name(model));
    if (w == NULL)
        return NULL;
    atrous_jw_key(w, "platform");
    atrous_jw_string(w, ATROUS_KSERVE_PLATFORM);
    atrous_jw_key(w, "backend");
    atrous_jw_string(w, "atrousd");
    atrous_jw_key(w, "max_batch_size");
    atrous_jw_int(w, model ? model->max_batch_size : 0);
    if (model == NULL) {
        write_config_tensors(w, "input", generic_tensors, GENERIC_INPUTS, false);
        write_config_tensors(w, "output", generic_tensors + GENERIC_INPUTS, 1, false);
    } else {
        model_tensors(model, tensors);
        write_config_tensors(w, "input", tensors, 1, batched);
        write_config_tensors(w, "output", tensors + 1, 1, batched);
        atrous_jw_key(w, "parameters");
        atrous_jw_object_begin(w);
        snprintf(text, sizeof(text), "%" PRId64, model->rate);
        write_string_parameter(w, "rate", text);
        write_string_parameter(w, "padding", atrous_padding_name(model->padding));
        atrous_shape_format(&model->filters_shape, text, sizeof(text));
        write_string_parameter(w, "filters_shape", text);
        write_string_parameter(w, "precision", atrous_precision_name(model->precision));
        atrous_jw_object_end(w);
    }
    atrous_jw_object_end(w);
    return atrous__dom_finish(w, len);
}
