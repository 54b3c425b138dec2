/*
 * media.h - the media types of the op endpoint: which wire form a Content-Type names, and
 * which form an Accept header asks for (HTTP content negotiation, RFC 9110 section 12.5.1,
 * restricted to the two forms atrousd speaks).
 */
#ifndef ATROUSD_MEDIA_H
#define ATROUSD_MEDIA_H

#include <stdbool.h>

#include "atrous_request.h"

#define ATROUSD_MEDIA_JSON   "application/json"
#define ATROUSD_MEDIA_BINARY "application/octet-stream"

/* The form a Content-Type value names, ignoring parameters and case
 * ("application/json; charset=utf-8" is JSON). False when absent or neither form. */
bool atrousd_media_content_form(const char *content_type, enum atrous_wire_form *out);

/*
 * The response form an Accept value asks for. NULL, empty, and the wildcards that match both
 * forms ("*" "/" "*" and "application/" "*") give request_form; otherwise the acceptable form with
 * the highest q wins (ties go to the request's own form). False when neither form is acceptable
 * (406).
 */
bool atrousd_media_accept(const char *accept, enum atrous_wire_form request_form,
                          enum atrous_wire_form *out);

#define ATROUSD_MEDIA_FORM "application/x-www-form-urlencoded"

/* True when a KServe infer or TF Serving predict body may carry this Content-Type: absent,
 * JSON, binary (the binary tensor extension), or curl's default for -d (form-urlencoded), since
 * those protocols read the body whatever its label. */
bool atrousd_media_model_body(const char *content_type);

/* The q parameter among the parameters [p, end) of one element of an Accept or
 * Accept-Encoding list ("; q=0.5; x=y"): 1 when absent, -1 when malformed or outside [0, 1]. */
double atrousd_media_quality(const char *p, const char *end);

/* The media type string of a form. */
const char *atrousd_media_type(enum atrous_wire_form form);

#endif
