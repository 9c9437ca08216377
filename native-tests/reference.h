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

/* Adam / AdamW / AMSGrad with a segment table, per element: element i of segment k (offsets[k] <=
 * i < offsets[k+1]) is updated as ref_adam_step with the k-th row of scalars, TP_ADAM_SCALARS floats
 * in twophase.h's order (beta1, one_minus_beta1, beta2, one_minus_beta2, step_size,
 * bias_correction2_sqrt, eps, l2_weight_decay, decay_factor, grad_scale). With vmax (AMSGrad; NULL
 * for Adam), after v: vmax = maximum(vmax, v) (IEEE 754-2019: NaN if either is NaN, +0 above -0)
 * and the denominator takes sqrt(vmax) instead of sqrt(v). */
void ref_adam_segments(float *param, const float *grad, float *exp_avg, float *exp_avg_sq, float *vmax, int64_t n,
                       const int64_t *offsets, const float *scalars, int nsegments);

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
 * sum of the per-tensor sums in tensor order; maxabs_out[t] = max over tensor t of |g| (0 when
 * empty, NaN when it holds a NaN), then the maximum over all tensors; *nonfinite_out = 1 if any
 * element is NaN or infinite. Returns 0, or 1 (invalid offsets: offsets[0] != 0 or decreasing). */
int ref_segmented_norms(const float *g, const int64_t *offsets, int ntensors, double *sumsq_out,
                        float *maxabs_out, int *nonfinite_out);

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

/* ---- conv ops of channels-last (NHWC) batches (twophase.h, conv.cu) ----
 * batch images of height x width x channels, square windows of `kernel`, `stride`, zero padding
 * `pad`; window cell (ky, kx) of output pixel (oy, ox) is input pixel (oy*stride - pad + ky,
 * ox*stride - pad + kx). Written as the definitions read: loops over output pixels and their
 * window cells, the adjoints as scatters into a zeroed dx. */
typedef struct {
    int batch, height, width, channels, kernel, stride, pad;
} RefConvShape;
int ref_conv_out_height(const RefConvShape *s);
int ref_conv_out_width(const RefConvShape *s);

/* cols[(b, oy, ox)][(ky, kx, c)] = x[b][iy][ix][c] for (iy, ix) inside the image, else 0 */
void ref_im2col(const RefConvShape *s, const float *x, float *cols);
/* dx = 0; for every patch row (b, oy, ox) in order and every cell inside the image: dx += cols */
void ref_col2im(const RefConvShape *s, const float *cols, float *dx);
/* Java's Math.max(a, b): a if a is NaN, b if b is NaN, +0 for (-0, +0) in either order */
float ref_java_max(float a, float b);
/* y = max (ref_java_max, from -infinity) over the window's cells inside the image, in window order */
void ref_max_pool(const RefConvShape *s, const float *x, float *y);
/* dx = 0; for every window in order: dx[first cell in window order with x == y] += dy */
void ref_max_pool_backward(const RefConvShape *s, const float *x, const float *y, const float *dy, float *dx);
/* y[b][c][r] = x[b][r][c] */
void ref_batched_transpose(int batch, int rows, int cols, const float *x, float *y);

/* ---- attention, layer norm, token mean (twophase.h) ---- */

/* C_oi = alpha * (op(A_oi) op(B_oi)): each output the float sum over p in order of the float
 * products, from +0, then times alpha (tp_batched_matmul's formula) */
void ref_batched_matmul(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a, int lda,
                        int64_t sa_outer, int64_t sa_inner, const float *b, int ldb, int64_t sb_outer, int64_t sb_inner,
                        float *c, int ldc, int64_t sc_outer, int64_t sc_inner, int64_t outer, int inner);

/* softmax of each row in place, tp_attention_softmax's formula (exp from the C library) */
void ref_attention_softmax(float *probs, int64_t rows, int cols);

/* dS = (p * (dP - dot)) * scale with dot = sum dP * p in float, in order; grad: dP in, dS out */
void ref_attention_softmax_backward(const float *probs, float *grad, int64_t rows, int cols, float scale);

/* Attention from its definition, in long double: for each sequence b and head h,
 * P = softmax(Q K^T / sqrt(E)), out = P V (q, k, v: (batch*tokens) x (heads*E); probs:
 * (batch, heads, tokens, tokens)); and the exact scores S = Q K^T / sqrt(E) in the layout of probs. */
void ref_attention_exact(int batch, int tokens, int heads, int head_dim, const float *q, const float *k,
                         const float *v, double *scores, double *probs, double *out);

/* Its gradients from the chain rule, in long double, at the given (float) probabilities P:
 * dV = P^T dOut, dP = dOut V^T, dS = P o (dP - rowsum(P o dP)) / sqrt(E), dQ = dS K, dK = dS^T Q. */
void ref_attention_backward_exact(int batch, int tokens, int heads, int head_dim, const float *q, const float *k,
                                  const float *v, const float *probs, const float *dout, double *dq, double *dk,
                                  double *dv);

/* tp_layer_norm's formula (row sums in double, in order) */
void ref_layer_norm(const float *x, const float *gamma, const float *beta, float *y, int64_t rows, int dim, float eps);

/* tp_layer_norm_backward's formulas, with dgamma and dbeta summed over all rows in row order */
void ref_layer_norm_backward(const float *x, const float *gamma, const float *dy, float *dx, float *dgamma,
                             float *dbeta, int64_t rows, int dim, float eps);

/* y[b][i] = (float)(sum over tokens in double, in order, / tokens); dx[b][t][i] = dy[b][i] * (1f / tokens) */
void ref_token_mean(const float *x, float *y, int64_t batch, int tokens, int dim);
void ref_token_mean_backward(const float *dy, float *dx, int64_t batch, int tokens, int dim);

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
