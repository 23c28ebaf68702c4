/* vmath_isa.h: the per-width loops behind vm_span (src/vmath.c), internal. Each takes any n: a tail
 * shorter than the width is computed in a padded vector (lanes are independent). */
#ifndef CN_VMATH_ISA_H
#define CN_VMATH_ISA_H

#include "src/vmath.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define VM_HAVE_X86 1
void vm_span_sse2(vm_fn f, const double *x, double *y, int n);
void vm_span_avx(vm_fn f, const double *x, double *y, int n);
void vm_span_avx512(vm_fn f, const double *x, double *y, int n);
#endif

/* The body of a width's vm_span_* (its parameters f, x, y, n): VEC holds W doubles, LOAD and STORE move
 * them, F(log) (cos, sin) names the SLEEF function at this width. Padding lanes hold 1.0 (in every
 * function's domain). */
#define VM_SPAN_LOOP(W, VEC, LOAD, STORE, F)                                                            \
    do {                                                                                                \
        int i_ = 0;                                                                                     \
        for (; i_ + (W) <= n; i_ += (W)) {                                                              \
            VEC v_ = LOAD(x + i_);                                                                      \
            STORE(y + i_, f == VM_LOG ? F(log)(v_) : f == VM_COS ? F(cos)(v_) : F(sin)(v_));            \
        }                                                                                               \
        if (i_ < n) {                                                                                   \
            double t_[W];                                                                               \
            for (int l_ = 0; l_ < (W); l_++)                                                            \
                t_[l_] = i_ + l_ < n ? x[i_ + l_] : 1.0;                                                \
            VEC v_ = LOAD(t_);                                                                          \
            STORE(t_, f == VM_LOG ? F(log)(v_) : f == VM_COS ? F(cos)(v_) : F(sin)(v_));                \
            for (int l_ = 0; i_ + l_ < n; l_++)                                                         \
                y[i_ + l_] = t_[l_];                                                                    \
        }                                                                                               \
    } while (0)

#endif
