/*
 * twophase: plain CPU references of every kernel op (the native "CPU reference of the
 * vector ops"). Written from the formulas in cuda/twophase.h, independently of the
 * kernels; compiled without floating-point contraction (-ffp-contract=off), so the float
 * elementwise ops evaluate exactly the expressions below, each operation rounded to float.
 */
#ifndef TWOPHASE_REFERENCE_H
#define TWOPHASE_REFERENCE_H

#include <stdint.h>

#include "twophase.h" /* TP_ACT_* */

#ifdef __cplusplus
extern "C" {
#endif

/* Adam / AdamW per element, in float, in this order (twophase.h):
 *   gs = grad*grad_scale + l2_weight_decay*p;  p = p*decay_factor;
 *   m  = beta1*m + one_minus_beta1*gs;         v = beta2*v + one_minus_beta2*gs*gs;
 *   p  = p - step_size*m / (sqrt(v)/bias_correction2_sqrt + eps)                     */
void ref_adam_step(float *param, const float *grad, float *exp_avg, float *exp_avg_sq, int64_t n,
                   float beta1, float one_minus_beta1, float beta2, float one_minus_beta2,
                   float step_size, float bias_correction2_sqrt, float eps,
                   float l2_weight_decay, float decay_factor, float grad_scale);

/* Host scalars of step t (1-based), computed in double and rounded to float, as the
 * callers of tp_adam_step do (and PyTorch): step_size = lr / (1 - beta1^t),
 * bc2_sqrt = sqrt(1 - beta2^t), one_minus_beta = (float)(1 - beta) from double. */
typedef struct {
    float beta1, one_minus_beta1, beta2, one_minus_beta2, step_size, bias_correction2_sqrt;
} RefAdamScalars;
RefAdamScalars ref_adam_scalars(double lr, double beta1, double beta2, int64_t t);

/* out[j] = sum_i (double)x[i] * (double)ys[j][i], sequentially in i. */
void ref_multi_dot(const float *x, const float *const *ys, int k, int64_t n, double *out);

/* d = -g + beta*d ; g_prev = g */
void ref_cg_direction(float *d, const float *g, float *g_prev, int64_t n, float beta);

/* x = x0 + alpha*d */
void ref_trial_point(float *x, const float *x0, const float *d, int64_t n, float alpha);

/* y = y + a*x */
void ref_axpy(float a, const float *x, float *y, int64_t n);

/* sumsq_out[t] = sum over tensor t of (double)g^2 (ntensors entries), then the total =
 * sum of the per-tensor sums in tensor order; *nonfinite_out = 1 if any element is NaN
 * or infinite. Returns 0, or 1 (invalid offsets: offsets[0] != 0 or decreasing). */
int ref_segmented_norms(const float *g, const int64_t *offsets, int ntensors, double *sumsq_out,
                        int *nonfinite_out);

/* ---- model ops, row-major (twophase.h); activation codes TP_ACT_* ---- */

/* y[r][c] = y[r][c] + bias[c] */
void ref_add_bias(float *y, const float *bias, int64_t rows, int cols);

/* dbias[c] = dbias[c] + (float)(sum_r dy[r][c] accumulated in double, r in order) */
void ref_bias_grad(const float *dy, float *dbias, int64_t rows, int cols);

/* f(x) and dy * f'(x) (y = f(x)) for one element, as the formulas in twophase.h; GELU from its
 * mathematical definition in long double, rounded once (the kernels evaluate it in float, so
 * they are compared with the float error bound of their formula, not bit for bit). */
float ref_activation(int act, float x);
float ref_activation_backward(int act, float x, float y, float dy);
/* GELU's intermediate terms at x, exact (long double, rounded to double): u, Phi = sigma(2u),
 * 1 - Phi and u' = sqrt(2/pi) (1 + 3 * 0.044715 x^2); for error bounds. */
typedef struct {
    double u, phi, one_minus_phi, du;
} RefGeluTerms;
void ref_gelu_terms(float x, RefGeluTerms *terms);

/* sum (out - target)^2 in double (differences in float); dout (may be NULL) =
 * (2*grad_scale) * (out - target) */
double ref_squared_error(const float *out, const float *target, int64_t n, float grad_scale, float *dout);

/* -sum target * log softmax(logits) row by row (max in float, exp/log in double, row sums
 * in order); dout (may be NULL) = grad_scale * (float)(softmax - target) */
double ref_softmax_cross_entropy(const float *logits, const float *target, int64_t rows, int cols,
                                 float grad_scale, float *dout);

/* C = alpha*op(A)*op(B) + beta*C row-major, dot products in double, rounded once;
 * beta == 0 does not read C */
void ref_sgemm(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a, int lda,
               const float *b, int ldb, float beta, float *c, int ldc);

/* ---- training data (data.cu): row numbers and labels held as float values ---- */

/* dst[r][c] = src[idx[r]][c]; a row whose idx[r] is not one of 0, 1, ..., src_rows - 1 is all NaN */
void ref_gather_rows(const float *src, int64_t src_rows, int cols, const float *idx, int64_t rows, float *dst);

/* dst[r][c] = 1 where c == labels[r], else 0; a row whose label is not one of 0, ..., classes - 1
 * is all NaN */
void ref_one_hot(const float *labels, int64_t rows, int classes, float *dst);

/* The rows whose label is the smallest column holding the row's maximum (rows without NaN);
 * -1 when a label is not one of 0, ..., cols - 1. */
int64_t ref_count_correct(const float *out, const float *labels, int64_t rows, int cols);

#ifdef __cplusplus
}
#endif

#endif /* TWOPHASE_REFERENCE_H */
