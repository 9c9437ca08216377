/*
 * twophase: plain CPU references of every kernel op (the native "CPU reference of the
 * vector ops"). Written from the formulas in cuda/twophase.h, independently of the
 * kernels; compiled without floating-point contraction (-ffp-contract=off), so the float
 * elementwise ops evaluate exactly the expressions below, each operation rounded to float.
 */
#ifndef TWOPHASE_REFERENCE_H
#define TWOPHASE_REFERENCE_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Adam / AdamW per element, in float, in this order (twophase.h):
 *   gs = grad*grad_scale + l2_weight_decay*p;  p = p*decay_factor;
 *   m  = beta1*m + (1-beta1)*gs;               v = beta2*v + (1-beta2)*gs*gs;
 *   p  = p - step_size*m / (sqrt(v)/bias_correction2_sqrt + eps)                     */
void ref_adam_step(float *param, const float *grad, float *exp_avg, float *exp_avg_sq, int64_t n,
                   float beta1, float beta2, float step_size, float bias_correction2_sqrt, float eps,
                   float l2_weight_decay, float decay_factor, float grad_scale);

/* Host scalars of step t (1-based), computed in double and rounded to float, as the
 * callers of tp_adam_step do: step_size = lr / (1 - beta1^t), bc2_sqrt = sqrt(1 - beta2^t). */
void ref_adam_scalars(double lr, double beta1, double beta2, int64_t t, float *step_size,
                      float *bias_correction2_sqrt);

/* out[j] = sum_i (double)x[i] * (double)ys[j][i], sequentially in i. */
void ref_multi_dot(const float *x, const float *const *ys, int k, int64_t n, double *out);

/* d = -g + beta*d ; g_prev = g */
void ref_cg_direction(float *d, const float *g, float *g_prev, int64_t n, float beta);

/* x = x0 + alpha*d */
void ref_trial_point(float *x, const float *x0, const float *d, int64_t n, float alpha);

/* sumsq_out[t] = sum over tensor t of (double)g^2 (ntensors entries), then the total =
 * sum of the per-tensor sums in tensor order; *nonfinite_out = 1 if any element is NaN
 * or infinite. Returns 0, or 1 (invalid offsets: offsets[0] != 0 or decreasing). */
int ref_segmented_norms(const float *g, const int64_t *offsets, int ntensors, double *sumsq_out,
                        int *nonfinite_out);

#ifdef __cplusplus
}
#endif

#endif /* TWOPHASE_REFERENCE_H */
