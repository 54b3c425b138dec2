/*
 * handlers.h - the service's request handling on plain structs, with no sockets and no
 * libmicrohttpd, in one include for the HTTP adapter (http.c), tests and fuzz targets:
 *
 *   admission.h   every decision from the request line and headers (atrousd_precheck)
 *   endpoints.h   the GET endpoints (atrousd_handle_endpoint)
 *   pipeline.h    decode, validate, compute, encode (atrousd_handle_compute, atrousd_handle)
 *   batching.h    same-shape batches of model requests (atrousd_handle_model_batch)
 *   protocol.h    the wire protocols' adapters the pipeline calls
 *   reply.h       the reply struct and the one table of error answers
 */
#ifndef ATROUSD_HANDLERS_H
#define ATROUSD_HANDLERS_H

#include "admission.h"
#include "batching.h"
#include "endpoints.h"
#include "pipeline.h"
#include "protocol.h"
#include "reply.h"

#endif
