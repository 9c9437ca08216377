/*
 * twophase CUDA kernels: the C ABI that Java's FFM backend calls.
 *
 * Every function returns 0 on success or a cudaError_t code; tp_error_string()
 * names it. Scalars that depend on the step (bias corrections, beta, alpha) are
 * computed by the caller on the host in double and passed rounded to float.
 * Reductions accumulate in double with a fixed two-pass order and no atomics,
 * so results are bit-identical run to run. All calls run in order on the legacy
 * default stream (the Java side holds no stream objects). A call that only queues
 * work (kernels, device-to-device copies, memsets) returns without waiting for it;
 * a call that gives the host a value waits for everything queued before it:
 * tp_memcpy_dtoh, the reductions whose results are host memory (tp_multi_dot,
 * tp_segmented_norms, the losses, tp_count_correct) and tp_synchronize. Host memory
 * passed to any call may be reused as soon as it returns. A kernel that fails while
 * running is therefore reported by the next call that waits (with the code of the
 * failure); set CUDA_LAUNCH_BLOCKING=1 to have it reported by the call that queued it.
 * Launch-configuration errors are reported by the queuing call.
 * Not thread-safe: the library keeps one scratch buffer for reductions.
 */
#ifndef TWOPHASE_H
#define TWOPHASE_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- launch geometry shared with the JCuda backend (same numbers in Java) ---- */
#define TP_BLOCK 256             /* threads per block for all elementwise kernels     */
#define TP_MAX_GRID 1024         /* grid cap for elementwise and multi-dot kernels    */
#define TP_MAX_DOTS 4            /* multi-dot: at most this many y vectors per pass   */
#define TP_NORM_CHUNK 32768      /* segmented norm: elements per (tensor, chunk) block */

/* ---- device and memory ---- */
int tp_device_count(int *count);
int tp_device_name(int device, char *name, int capacity);
const char *tp_error_string(int code);
int tp_malloc(void **ptr, int64_t bytes);
int tp_free(void *ptr);
int tp_memcpy_htod(void *dst, const void *src, int64_t bytes);
int tp_memcpy_dtoh(void *dst, const void *src, int64_t bytes);
int tp_memcpy_dtod(void *dst, const void *src, int64_t bytes);
int tp_memset(void *ptr, int value, int64_t bytes);
int tp_synchronize(void);

/*
 * Fused Adam / AdamW (optionally AMSGrad), one launch over the flat buffer, with per-segment
 * scalars: segment k is the elements [offsets[k], offsets[k+1]) and uses the TP_ADAM_SCALARS
 * floats scalars[k * TP_ADAM_SCALARS ...], in this order:
 *   beta1, one_minus_beta1, beta2, one_minus_beta2, step_size, bias_correction2_sqrt, eps,
 *   l2_weight_decay, decay_factor, grad_scale
 * offsets (host, nsegments + 1 entries: offsets[0] == 0, non-decreasing, offsets[nsegments] == n;
 * empty segments allowed) and scalars (host) are read before the call returns. Per element, in
 * this order:
 *   g    = grad * grad_scale + l2_weight_decay * p      (Adam's L2 form; 0 for AdamW)
 *   p    = p * decay_factor                             (AdamW: 1 - lr*wd; Adam: 1)
 *   m    = beta1 * m + one_minus_beta1 * g
 *   v    = beta2 * v + one_minus_beta2 * g * g
 *   vmax = maximum(vmax, v)                             (AMSGrad only: max_exp_avg_sq not NULL)
 *   p    = p - step_size * m / (sqrt(v, or vmax) / bias_correction2_sqrt + eps)
 * with step_size = lr / (1 - beta1^t) and bias_correction2_sqrt = sqrt(1 - beta2^t).
 * one_minus_beta1/2 are computed by the caller in double and rounded to float, as PyTorch
 * does (1 - 0.999f in float is 0.00099998713, a relative error of 1.3e-5 in v); every
 * operation above is rounded to float separately (no FMA), left to right. maximum is IEEE
 * 754-2019's (as Java's Math.max and torch.maximum): NaN if either is NaN, +0 above -0.
 * max_exp_avg_sq: device, NULL for Adam. One segment without AMSGrad (the default
 * configuration) launches the kernel with the scalars as arguments; otherwise the table is
 * copied to the device first (nsegments * 48 + 8 bytes) for the segmented kernel.
 * skip_flag: device int, may be NULL; when it holds non-zero nothing is written
 * (set by tp_segmented_norms when the gradient is not finite).
 */
#define TP_ADAM_SCALARS 10
int tp_adam_step(float *param, const float *grad, float *exp_avg, float *exp_avg_sq, float *max_exp_avg_sq,
                 int64_t n, const int64_t *offsets, const float *scalars, int nsegments,
                 const int *skip_flag);

/* out[j] = sum_i x[i] * ys[j][i] for j < k (k <= TP_MAX_DOTS), one pass over x.
 * ys is a host array of device pointers; out is host memory. */
int tp_multi_dot(const float *x, const float *const *ys, int k, int64_t n, double *out);

/* d = -g + beta * d and g_prev = g, in one pass. */
int tp_cg_direction(float *d, const float *g, float *g_prev, int64_t n, float beta);

/* x = x0 + alpha * d */
int tp_trial_point(float *x, const float *x0, const float *d, int64_t n, float alpha);

/* y = y + a * x (each operation rounded separately) */
int tp_axpy(float a, const float *x, float *y, int64_t n);

/*
 * Segmented sum of squares and maximum magnitude of g over the tensor views of the flat
 * buffer: offsets (host, ntensors + 1 entries, offsets[0] == 0, non-decreasing) delimit the
 * tensors. sumsq_out (host, ntensors + 1 doubles): per-tensor sums of squares, then the total.
 * maxabs_out (host, ntensors + 1 floats, may be NULL): per-tensor max |g|, then the maximum over
 * all (the max-norm); 0 for an empty tensor, NaN when the tensor holds a NaN, +Inf when it holds
 * an infinity and no NaN (exact: order-independent). nonfinite_out (host): 1 if any element is
 * NaN or infinite. device_flag (device int, may be NULL): receives the same non-finite flag, so
 * that tp_adam_step can skip on the device without a round trip.
 */
int tp_segmented_norms(const float *g, const int64_t *offsets, int ntensors,
                       double *sumsq_out, float *maxabs_out, int *nonfinite_out, int *device_flag);

/* ---- model ops (layers.cu, gemm.cu); matrices are row-major, rows x cols, dense ---- */

/* Activation codes (dev.twophase.backend.Activation maps its constants to these). */
#define TP_ACT_IDENTITY 0
#define TP_ACT_RELU 1
#define TP_ACT_TANH 2
#define TP_ACT_SIGMOID 3
#define TP_ACT_GELU 4 /* tanh approximation */

/* y[r][c] += bias[c] for a rows x cols matrix y. */
int tp_add_bias(float *y, const float *bias, int64_t rows, int cols);

/* dbias[c] += (float) sum_r dy[r][c]: column sums in double, two passes in a fixed order
 * (row chunks, then the chunks of each column in order), no atomics. */
int tp_bias_grad(const float *dy, float *dbias, int64_t rows, int cols);

/* y = f(x) elementwise (y may alias x). Transcendentals are evaluated in double and
 * rounded once to float, like the Java formulas in Activation:
 *   relu x > 0 ? x : 0 (NaN stays NaN)   tanh (float)tanh((double)x)
 *   sigmoid (float)(1 / (1 + exp(-(double)x)))
 *   gelu u = C*(x + A*x*x*x) in float; s = (float)(1 / (1 + exp(-2*(double)u))); y = x*s
 *        (s is 0.5 (1 + tanh u), written so that it stays accurate where tanh u is near -1) */
int tp_activation(int act, const float *x, float *y, int64_t n);

/* dx = dy * f'(x) with y = f(x) (dx may alias dy):
 *   identity dy   relu x > 0 ? dy : 0   tanh dy*(1 - y*y)   sigmoid dy*(y*(1 - y))
 *   gelu dy*(s + x*s*(1 - s)*2*du), du = C*(1 + 3A*x*x), float operations left to right */
int tp_activation_backward(int act, const float *x, const float *y, const float *dy, float *dx,
                           int64_t n);

/* *loss = sum_i (out[i] - target[i])^2 (differences in float, squares and sum in double);
 * when dout is not NULL, dout[i] = (2 * grad_scale) * (out[i] - target[i]). loss: host. */
int tp_squared_error(const float *out, const float *target, int64_t n, float grad_scale,
                     float *dout, double *loss);

/* For rows x cols logits and targets: *loss = -sum_r sum_c target * log softmax(logits)_r,c
 * (max in float, exp/log/sums in double, one warp per row, then a fixed-order sum of the
 * row losses); when dout is not NULL, dout = grad_scale * (float)(softmax - target).
 * loss: host. */
int tp_softmax_cross_entropy(const float *logits, const float *target, int64_t rows, int cols,
                             float grad_scale, float *dout, double *loss);

/* C = alpha * op(A) * op(B) + beta * C, row-major (CBLAS row-major semantics; beta == 0
 * does not read C). The library's own tiled kernel: the fallback when cuBLAS cannot be
 * loaded (the Java backends call cuBLAS themselves when it loads). */
int tp_sgemm(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a, int lda,
             const float *b, int ldb, float beta, float *c, int ldc);

/* ---- conv ops of channels-last (NHWC) batches (conv.cu); shapes as ConvShape ----
 * batch images of height x width x channels, square windows of `kernel`, `stride`, zero padding
 * `pad` on each side; out_h = (height + 2 pad - kernel) / stride + 1, out_w likewise. Invalid
 * shapes (as ConvShape refuses them, or an image, an output image or a patch of more than
 * INT_MAX values) return TP_ERR_INVALID_VALUE. The buffers must not overlap. Every result is
 * bit-identical to the CPU backend (HostKernels): copies, comparisons, and sums in its order. */

/* cols[(b, oy, ox)][(ky, kx, c)] = x[b][oy*stride - pad + ky][ox*stride - pad + kx][c], 0 outside;
 * cols is (batch * out_h * out_w) x (kernel * kernel * channels). */
int tp_im2col(const float *x, float *cols, int batch, int height, int width, int channels, int kernel,
              int stride, int pad);

/* The adjoint of im2col: dx (overwritten) = 0 + the cols entries that read each pixel, added in
 * (oy, ox) order, each sum rounded to float. */
int tp_col2im(const float *cols, float *dx, int batch, int height, int width, int channels, int kernel,
              int stride, int pad);

/* y (batch x out_h x out_w x channels) = max over each window's cells inside the image, in
 * window order from -infinity, as Java's Math.max (NaN wins; +0 above -0). */
int tp_max_pool(const float *x, float *y, int batch, int height, int width, int channels, int kernel,
                int stride, int pad);

/* dx (overwritten) = 0 + dy of each window whose first cell in window order with x == y is this
 * element, windows in (oy, ox) order. */
int tp_max_pool_backward(const float *x, const float *y, const float *dy, float *dx, int batch,
                         int height, int width, int channels, int kernel, int stride, int pad);

/* y[b] = x[b]^T for batch row-major rows x cols matrices (any of them 0: nothing to do). */
int tp_batched_transpose(const float *x, float *y, int batch, int rows, int cols);

/* ---- attention, layer norm, token mean (attention.cu, layernorm.cu) ----
 * Bit for bit what the CPU backend (HostKernels) computes, except where noted; the formulas
 * below name every rounding (float operations rounded separately, no FMA). */

/* For o < outer and i < inner, the row-major matrices A_oi = a + o*sa_outer + i*sa_inner (b, c
 * likewise): C_oi = alpha * (op(A_oi) op(B_oi)), op(A) m x k, op(B) k x n, leading dimensions as
 * in CBLAS row-major; C is overwritten, never read. Each output is the sum over p = 0..k-1, in
 * order, of op(A)[i][p] * op(B)[p][j] in float (each product and sum rounded, from +0), then
 * multiplied by alpha (1 is exact; alpha = 0 still reads A and B). Our own kernel: the attention
 * uses it where cuBLAS is not loaded (cuBLAS's strided-batched SGEMM otherwise, one call per
 * inner index with the outer index as cuBLAS's batch). Distinct C matrices must not overlap. */
int tp_batched_matmul(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a, int lda,
                      int64_t sa_outer, int64_t sa_inner, const float *b, int ldb, int64_t sb_outer, int64_t sb_inner,
                      float *c, int ldc, int64_t sc_outer, int64_t sc_inner, int64_t outer, int inner);

/* Softmax of each row of a rows x cols matrix, in place: mx = max of the row (NaN wins),
 * e_j = (float) exp((double)(s_j - mx)) (difference in float), z = sum of e_j in double in order,
 * p_j = e_j * (float)(1 / z). The device's double exp may differ from the JVM's in the last bit
 * and, rarely, round to another float: then the row differs by a few float ulps. */
int tp_attention_softmax(float *probs, int64_t rows, int cols);

/* Softmax backward, rows x cols: grad holds dP and receives dS:
 * dot = sum_j dP_j * p_j in float in order, dS_j = (p_j * (dP_j - dot)) * scale. */
int tp_attention_softmax_backward(const float *probs, float *grad, int64_t rows, int cols, float scale);

/*
 * Multi-head scaled dot-product attention from the three calls above, for batch sequences of
 * `tokens` tokens, heads x head_dim features (d = heads * head_dim), T = tokens, E = head_dim,
 * scale = (float)(1 / sqrt(E)); q, k, v, out are (batch*T) x d, probs is (batch, heads, T, T);
 * per sequence o (outer, batch) and head i (inner, heads), with the strides in floats
 * (ld d, sa_outer T*d, sa_inner E for q k v out dOut dq dk dv; ld T, T*T*heads, T*T for probs
 * and the dP scratch):
 *   forward:  tp_batched_matmul(0, 1, T, T, E, scale, q, k -> probs); tp_attention_softmax(probs,
 *             batch*heads*T, T); tp_batched_matmul(0, 0, T, E, T, 1, probs, v -> out)
 *   backward: tp_batched_matmul(0, 1, T, T, E, 1, dOut, v -> g); tp_attention_softmax_backward(
 *             probs, g, batch*heads*T, T, scale); tp_batched_matmul(0, 0, T, E, T, 1, g, k -> dq),
 *             (1, 0, T, E, T, 1, g, q -> dk), (1, 0, T, E, T, 1, probs, dOut -> dv)
 */

/* Layer norm of each row of dim floats (y may be x): mean and var = sum (x - mean)^2 / dim in
 * double, summed in order; y = ((x - (float)mean) * (float)(1 / sqrt(var + eps))) * gamma + beta. */
int tp_layer_norm(const float *x, const float *gamma, const float *beta, float *y, int64_t rows, int dim, float eps);

/* Layer norm backward: dx overwritten, dgamma and dbeta accumulated. Per row, in double and in
 * order: rstd = 1 / sqrt(var + eps), xhat = (x - mean) * rstd, g = dy * gamma, sum_g, sum_gx =
 * sum g * xhat; dx = (float)(rstd * ((g - sum_g / dim) - (xhat * sum_gx) / dim)). Per column:
 * dgamma += (float) sum_r dy * xhat, dbeta += (float) sum_r dy, in double over row chunks of
 * TP_BIAS_CHUNK_ROWS (the bias gradient's), then the chunks in order: the CPU's row-order sum
 * while rows <= 256, another association beyond (about an ulp apart). dx must not overlap dy. */
int tp_layer_norm_backward(const float *x, const float *gamma, const float *dy, float *dx, float *dgamma,
                           float *dbeta, int64_t rows, int dim, float eps);

/* Mean over tokens: x is batch x tokens x dim, y[b][i] = (float)(sum over t in order, in double,
 * / tokens). Backward: dx[b][t][i] = dy[b][i] * (1f / tokens), dx overwritten. */
int tp_token_mean(const float *x, float *y, int64_t batch, int tokens, int dim);
int tp_token_mean_backward(const float *dy, float *dx, int64_t batch, int tokens, int dim);

/* ---- training data on the device (data.cu) ----
 * Row numbers and labels are float values (exact integers below 2^24); one that is not an
 * integer in its range makes a row of NaN (gather, one-hot) or a NaN count. */

/* dst[r][c] = src[idx[r]][c] for r < rows, c < cols; src has src_rows rows. */
int tp_gather_rows(const float *src, int64_t src_rows, int cols, const float *idx, int64_t rows, float *dst);

/* dst[r][c] = c == labels[r] ? 1 : 0 for a rows x classes dst. */
int tp_one_hot(const float *labels, int64_t rows, int classes, float *dst);

/* *correct (host) = the number of rows r whose first maximum over out[r][0..cols) (the first
 * column greater than every earlier one) is labels[r]. */
int tp_count_correct(const float *out, const float *labels, int64_t rows, int cols, double *correct);

/* ---- additions (diagnostics and housekeeping); same return convention ---- */
/* 2: tp_adam_step takes one_minus_beta1/2; tp_axpy, the model ops and tp_sgemm added.
 * 3: tp_adam_step takes a segment table of scalars and AMSGrad's max_exp_avg_sq;
 *    tp_segmented_norms also returns the per-tensor max |g|. */
#define TP_ABI_VERSION 3
/* *version = TP_ABI_VERSION the library was built with (lets a binding check it loaded
 * the library it was written for). Never touches CUDA. */
int tp_abi_version(int *version);
/* *version = CUDA runtime version linked into the library, e.g. 13000 for 13.0. */
int tp_runtime_version(int *version);
/* *version = latest CUDA version the installed driver supports; 0 when no driver. */
int tp_driver_version(int *version);
/* Free and total device memory of the current device, in bytes. */
int tp_mem_get_info(int64_t *free_bytes, int64_t *total_bytes);
/* Bytes the library has copied from host to device and from device to host since it was
 * loaded: tp_memcpy_htod/dtoh, the results of reductions and the tables it uploads. */
int tp_transfer_bytes(int64_t *host_to_device, int64_t *device_to_host);
/* Frees the library's scratch buffers (reduction scratch, cached norm chunk table);
 * the next call that needs them grows them again. */
int tp_release_scratch(void);

#ifdef __cplusplus
}
#endif

#endif /* TWOPHASE_H */
