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
 * Fused Adam / AdamW, one launch over the flat buffer. Per element, in this order:
 *   g  = grad * grad_scale + l2_weight_decay * p      (Adam's L2 form; 0 for AdamW)
 *   p  = p * decay_factor                             (AdamW: 1 - lr*wd; Adam: 1)
 *   m  = beta1 * m + one_minus_beta1 * g
 *   v  = beta2 * v + one_minus_beta2 * g * g
 *   p  = p - step_size * m / (sqrt(v) / bias_correction2_sqrt + eps)
 * with step_size = lr / (1 - beta1^t) and bias_correction2_sqrt = sqrt(1 - beta2^t).
 * one_minus_beta1/2 are computed by the caller in double and rounded to float, as PyTorch
 * does (1 - 0.999f in float is 0.00099998713, a relative error of 1.3e-5 in v); every
 * operation above is rounded to float separately (no FMA), left to right.
 * skip_flag: device int, may be NULL; when it holds non-zero nothing is written
 * (set by tp_segmented_norms when the gradient is not finite).
 */
int tp_adam_step(float *param, const float *grad, float *exp_avg, float *exp_avg_sq, int64_t n,
                 float beta1, float one_minus_beta1, float beta2, float one_minus_beta2,
                 float step_size, float bias_correction2_sqrt, float eps,
                 float l2_weight_decay, float decay_factor, float grad_scale, const int *skip_flag);

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
 * Segmented sum of squares of g over the tensor views of the flat buffer:
 * offsets (host, ntensors + 1 entries, offsets[0] == 0, non-decreasing) delimit
 * the tensors. sumsq_out (host, ntensors + 1 doubles): per-tensor sums of squares,
 * then the total. nonfinite_out (host): 1 if any element is NaN or infinite.
 * device_flag (device int, may be NULL): receives the same non-finite flag, so that
 * tp_adam_step can skip on the device without a round trip.
 */
int tp_segmented_norms(const float *g, const int64_t *offsets, int ntensors,
                       double *sumsq_out, int *nonfinite_out, int *device_flag);

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
/* 2: tp_adam_step takes one_minus_beta1/2; tp_axpy, the model ops and tp_sgemm added. */
#define TP_ABI_VERSION 2
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
