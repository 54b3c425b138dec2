/*
 * budget.c - the memory budget's counter: a compare-and-swap loop that never lets in_use pass
 * the limit, a high-water mark, and the reservations that requests hold.
 */
#include "budget.h"

#include <stddef.h>

void atrousd_budget_init(struct atrousd_budget *b, uint64_t limit)
{
    b->limit = limit;
    atomic_init(&b->in_use, 0);
    atomic_init(&b->peak, 0);
    atomic_init(&b->refused, 0);
}

void atrousd_reservation_init(struct atrousd_reservation *r)
{
    r->budget = NULL;
    r->bytes = 0;
}

/* Raises the high-water mark to at least value. */
static void note_peak(struct atrousd_budget *b, uint64_t value)
{
    uint64_t seen = atomic_load_explicit(&b->peak, memory_order_relaxed);
    while (seen < value && !atomic_compare_exchange_weak_explicit(
                               &b->peak, &seen, value, memory_order_relaxed, memory_order_relaxed))
        ;
}

bool atrousd_budget_reserve(struct atrousd_budget *b, struct atrousd_reservation *r, uint64_t bytes)
{
    if (r->budget != NULL && r->budget != b)
        return false; /* our own misuse: one reservation never spans two budgets */
    uint64_t cur = atomic_load_explicit(&b->in_use, memory_order_relaxed);
    uint64_t next;
    do {
        /* Written so that no sum can overflow, whatever a caller asks for. */
        if (bytes > b->limit || cur > b->limit - bytes) {
            atomic_fetch_add_explicit(&b->refused, 1, memory_order_relaxed);
            return false;
        }
        next = cur + bytes;
    } while (!atomic_compare_exchange_weak_explicit(&b->in_use, &cur, next, memory_order_relaxed,
                                                    memory_order_relaxed));
    note_peak(b, next);
    r->budget = b;
    r->bytes += bytes;
    return true;
}

bool atrousd_budget_grow(struct atrousd_reservation *r, uint64_t more)
{
    if (r->budget == NULL) {
        r->bytes += more;
        return true;
    }
    return atrousd_budget_reserve(r->budget, r, more);
}

void atrousd_budget_shrink(struct atrousd_reservation *r, uint64_t bytes)
{
    if (r->bytes <= bytes)
        return;
    if (r->budget != NULL)
        atomic_fetch_sub_explicit(&r->budget->in_use, r->bytes - bytes, memory_order_relaxed);
    r->bytes = bytes;
}

void atrousd_budget_release(struct atrousd_reservation *r)
{
    atrousd_budget_shrink(r, 0);
    r->budget = NULL;
}

bool atrousd_budget_could_fit(const struct atrousd_budget *b, uint64_t bytes)
{
    return bytes <= b->limit;
}

uint64_t atrousd_budget_in_use(const struct atrousd_budget *b)
{
    return atomic_load_explicit(&b->in_use, memory_order_relaxed);
}

uint64_t atrousd_budget_peak(const struct atrousd_budget *b)
{
    return atomic_load_explicit(&b->peak, memory_order_relaxed);
}

uint64_t atrousd_budget_refused(const struct atrousd_budget *b)
{
    return atomic_load_explicit(&b->refused, memory_order_relaxed);
}
