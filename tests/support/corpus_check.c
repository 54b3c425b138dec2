/*
 * corpus_check.c - one corpus case through the op's validation and the engine, compared with
 * its expected output. In a file of its own: the rest of the corpus support links without
 * oneDNN, so codec tests that read cases need no engine.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atrous_engine.h"
#include "atrous_op.h"
#include "corpus.h"

int corpus_check(struct atrous_engine *engine, struct atrous_workspace *workspace,
                 const struct corpus_case *c, struct corpus_comparison *cmp, char *why,
                 size_t why_size)
{
    struct atrous_problem problem;
    struct atrous_error err;
    struct atrous_shape got_shape;
    char got_text[160], want_text[160];
    float *output = NULL;
    int rc = -1;

    memset(cmp, 0, sizeof(*cmp));
    if (atrous_op_validate(&c->value_shape, &c->filters_shape, c->output_shape, c->output_shape_len,
                           c->rate, c->padding, c->padding_len, NULL, &problem, &err) != ATROUS_OK)
        return corpus_fail(why, why_size, "%s: rejected (%s, field '%s'): %s", c->name,
                           atrous_status_code(err.status), err.field, err.message);
    atrous_problem_output_shape(&problem, &got_shape);
    if (!atrous_shape_equal(&got_shape, &c->expected_shape) ||
        problem.output_elements != c->expected_count) {
        atrous_shape_format(&got_shape, got_text, sizeof(got_text));
        atrous_shape_format(&c->expected_shape, want_text, sizeof(want_text));
        return corpus_fail(why, why_size, "%s: output shape %s, expected %s", c->name, got_text,
                           want_text);
    }
    if (c->expected_count > 0 && (output = malloc(c->expected_count * sizeof(float))) == NULL)
        return corpus_fail(why, why_size, "%s: out of memory", c->name);
    for (size_t i = 0; i < c->expected_count; i++)
        output[i] = NAN;
    if (atrous_engine_run(engine, workspace, &problem, c->value, c->filters, output, &err) !=
        ATROUS_OK) {
        corpus_fail(why, why_size, "%s: engine failed (%s): %s", c->name,
                    atrous_status_code(err.status), err.message);
        goto out;
    }
    corpus_compare(output, c->expected, c->expected_count, cmp);
    if (cmp->failures > 0) {
        size_t i = cmp->worst_index;
        corpus_fail(
            why, why_size,
            "%s: %zu of %zu elements out of tolerance (%zu NaN/Inf); worst at flat index %zu: "
            "got %.9g, expected %.9g, scaled error %.3g",
            c->name, cmp->failures, c->expected_count, cmp->non_finite, i, output[i],
            c->expected[i], cmp->worst);
        goto out;
    }
    rc = 0;
out:
    free(output);
    return rc;
}
