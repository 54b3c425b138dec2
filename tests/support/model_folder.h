/*
 * model_folder.h - a model folder read with stdio and decoded by proto's decoders of its
 * formats (atrous_model_config_decode, atrous_npy_decode_*), then lib's own checks: what the
 * server's repository does for one folder, minus its file-type and size rules. For the tests
 * below the server (test_model_formats, the codec tests); needs proto and lib, not the engine.
 */
#ifndef TESTS_MODEL_FOLDER_H
#define TESTS_MODEL_FOLDER_H

#include <stddef.h>

#include "atrous_model.h"

/* Reads a whole file into a malloc'd, NUL-terminated buffer of *len bytes; NULL on failure. */
char *model_folder_read_file(const char *path, size_t *len);

/* The model in folder dir, filters decoded and checked, not prepared (atrous_model_free). NULL
 * with the reason in why on any failure. */
struct atrous_model *model_folder_load(const char *dir, char *why, size_t why_size);

#endif
