/*
 * twophase: declarations of every extern "C" __global__ kernel.
 *
 * These are the names the JCuda backend looks up in twophase.fatbin (cuModuleGetFunction)
 * and the exact parameter lists it must pass (long long = 64-bit, pointers = device
 * pointers). Launch all of them with blockDim = (TP_BLOCK, 1, 1) and no dynamic shared
 * memory; grids as noted (tp_elementwise_grid is in geometry.h).
 *
 *   adam.cu   tp_adam_kernel            grid tp_elementwise_grid(n); one segment, no AMSGrad
 *             tp_adam_segments_kernel   grid tp_elementwise_grid(n); otherwise, the segment table in device memory
 *   cg.cu     tp_multi_dot_partials     grid G = tp_elementwise_grid(n), partials: k*G doubles
 *             tp_reduce_partials        grid k, nparts = G
 *             tp_cg_direction_kernel    grid tp_elementwise_grid(n)
 *             tp_trial_point_kernel     grid tp_elementwise_grid(n)
 *             tp_axpy_kernel            grid tp_elementwise_grid(n)
 *   norms.cu  tp_norm_chunks            grid nchunks (skip when 0), *nonfinite zeroed first
 *             tp_norm_cleanup           grid 1
 *   layers.cu tp_add_bias_kernel        grid tp_elementwise_grid(rows * cols)
 *             tp_bias_grad_partials     grid (ceil(cols / 32), tp_bias_chunks(rows)),
 *                                       partials: chunks * cols doubles
 *             tp_bias_grad_finish       grid ceil(cols / TP_BLOCK)
 *             tp_activation_kernel      grid tp_elementwise_grid(n)
 *             tp_activation_backward_kernel  grid tp_elementwise_grid(n)
 *             tp_squared_error_partials grid G = tp_elementwise_grid(n), then tp_reduce_partials(k 1, G)
 *             tp_softmax_xent_rows      grid tp_row_grid(rows), then tp_reduce_partials(k 1, rows)
 *   gemm.cu   tp_sgemm_kernel           grid (tp_gemm_grid_x(n), tp_gemm_grid_y(m))
 *   conv.cu   tp_im2col_kernel          grid tp_elementwise_grid(batch * out_h * out_w * kernel^2 * channels)
 *             tp_col2im_kernel          grid tp_elementwise_grid(batch * height * width * channels)
 *             tp_max_pool_kernel        grid tp_elementwise_grid(batch * out_h * out_w * channels)
 *             tp_max_pool_backward_kernel  grid tp_elementwise_grid(batch * height * width * channels)
 *             tp_batched_transpose_kernel  grid tp_transpose_grid(batch, rows, cols)
 *   attention.cu tp_batched_matmul_kernel          grid tp_batched_matmul_grid(outer * inner, m, n)
 *             tp_attention_softmax_rows          grid tp_row_grid(rows)
 *             tp_attention_softmax_backward_rows grid tp_row_grid(rows)
 *   layernorm.cu tp_layer_norm_rows             grid tp_row_grid(rows)
 *             tp_layer_norm_backward_rows        grid tp_row_grid(rows), row_stats: 2 * rows doubles
 *             tp_layer_norm_param_partials       grid (tp_bias_column_blocks(dim), tp_layer_norm_chunk_blocks(
 *                                                tp_bias_chunks(rows))), partials: 2 * chunks * dim doubles,
 *                                                then tp_bias_grad_finish on each half
 *             tp_token_mean_kernel               grid tp_elementwise_grid(batch * dim)
 *             tp_token_mean_backward_kernel      grid tp_elementwise_grid(batch * tokens * dim)
 *   data.cu   tp_gather_rows_kernel     grid tp_elementwise_grid(rows * cols)
 *             tp_one_hot_kernel         grid tp_elementwise_grid(rows * classes)
 *             tp_count_correct_partials grid G = tp_elementwise_grid(rows), then tp_reduce_partials(k 1, G)
 *
 * The JCuda backend declares the same names and parameter lists in
 * dev.twophase.backend.cuda.Kernel; a Java test compares that list with this file.
 */
#ifndef TWOPHASE_KERNELS_CUH
#define TWOPHASE_KERNELS_CUH

#include "twophase.h"

extern "C" {

__global__ void __launch_bounds__(TP_BLOCK)
tp_adam_kernel(float *p, const float *g, float *m, float *v, long long n,
               float beta1, float one_minus_beta1, float beta2, float one_minus_beta2,
               float step_size, float bc2_sqrt, float eps,
               float l2_wd, float decay_factor, float grad_scale, const int *skip);

__global__ void __launch_bounds__(TP_BLOCK)
tp_adam_segments_kernel(float *p, const float *g, float *m, float *v, float *vmax, long long n,
                        const long long *seg_offsets, const float *seg_scalars, int nseg, const int *skip);

__global__ void __launch_bounds__(TP_BLOCK)
tp_multi_dot_partials(const float *x, const float *y0, const float *y1, const float *y2,
                      const float *y3, int k, long long n, double *partials);

__global__ void __launch_bounds__(TP_BLOCK)
tp_reduce_partials(const double *partials, int k, int nparts, double *out);

__global__ void __launch_bounds__(TP_BLOCK)
tp_cg_direction_kernel(float *d, const float *g, float *g_prev, long long n, float beta);

__global__ void __launch_bounds__(TP_BLOCK)
tp_trial_point_kernel(float *x, const float *x0, const float *d, long long n, float alpha);

__global__ void __launch_bounds__(TP_BLOCK)
tp_axpy_kernel(float a, const float *x, float *y, long long n);

__global__ void __launch_bounds__(TP_BLOCK)
tp_norm_chunks(const float *g, const long long *chunk_start, const long long *chunk_end,
               double *chunk_sumsq, unsigned int *chunk_maxabs, int *nonfinite);

__global__ void __launch_bounds__(TP_BLOCK)
tp_norm_cleanup(const double *chunk_sumsq, const unsigned int *chunk_maxabs, const int *tensor_first_chunk,
                int ntensors, double *out, unsigned int *maxabs_out);

__global__ void __launch_bounds__(TP_BLOCK)
tp_add_bias_kernel(float *y, const float *bias, long long rows, int cols);

__global__ void __launch_bounds__(TP_BLOCK)
tp_bias_grad_partials(const float *dy, long long rows, int cols, long long rows_per_chunk, double *partials);

__global__ void __launch_bounds__(TP_BLOCK)
tp_bias_grad_finish(const double *partials, int nchunks, int cols, float *dbias);

__global__ void __launch_bounds__(TP_BLOCK)
tp_activation_kernel(int act, const float *x, float *y, long long n);

__global__ void __launch_bounds__(TP_BLOCK)
tp_activation_backward_kernel(int act, const float *x, const float *y, const float *dy, float *dx, long long n);

__global__ void __launch_bounds__(TP_BLOCK)
tp_squared_error_partials(const float *out, const float *target, long long n, float two_scale, float *dout,
                          double *partials);

__global__ void __launch_bounds__(TP_BLOCK)
tp_softmax_xent_rows(const float *logits, const float *target, long long rows, int cols, float grad_scale,
                     float *dout, double *row_loss);

__global__ void __launch_bounds__(TP_BLOCK)
tp_sgemm_kernel(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a, int lda,
                const float *b, int ldb, float beta, float *c, int ldc);

__global__ void __launch_bounds__(TP_BLOCK)
tp_im2col_kernel(const float *x, float *cols, int batch, int height, int width, int channels, int kernel, int stride,
                 int pad, int out_h, int out_w);

__global__ void __launch_bounds__(TP_BLOCK)
tp_col2im_kernel(const float *cols, float *dx, int batch, int height, int width, int channels, int kernel, int stride,
                 int pad, int out_h, int out_w);

__global__ void __launch_bounds__(TP_BLOCK)
tp_max_pool_kernel(const float *x, float *y, int batch, int height, int width, int channels, int kernel, int stride,
                   int pad, int out_h, int out_w);

__global__ void __launch_bounds__(TP_BLOCK)
tp_max_pool_backward_kernel(const float *x, const float *y, const float *dy, float *dx, int batch, int height,
                            int width, int channels, int kernel, int stride, int pad, int out_h, int out_w);

__global__ void __launch_bounds__(TP_BLOCK)
tp_batched_transpose_kernel(const float *x, float *y, int batch, int rows, int cols);

__global__ void __launch_bounds__(TP_BLOCK)
tp_batched_matmul_kernel(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a, int lda,
                         long long sa_outer, long long sa_inner, const float *b, int ldb, long long sb_outer,
                         long long sb_inner, float *c, int ldc, long long sc_outer, long long sc_inner, long long outer,
                         int inner);

__global__ void __launch_bounds__(TP_BLOCK)
tp_attention_softmax_rows(float *probs, long long rows, int cols);

__global__ void __launch_bounds__(TP_BLOCK)
tp_attention_softmax_backward_rows(const float *probs, float *grad, long long rows, int cols, float scale);

__global__ void __launch_bounds__(TP_BLOCK)
tp_layer_norm_rows(const float *x, const float *gamma, const float *beta, float *y, long long rows, int dim, float eps);

__global__ void __launch_bounds__(TP_BLOCK)
tp_layer_norm_backward_rows(const float *x, const float *gamma, const float *dy, float *dx, double *row_stats,
                            long long rows, int dim, float eps);

__global__ void __launch_bounds__(TP_BLOCK)
tp_layer_norm_param_partials(const float *x, const float *dy, const double *row_stats, long long rows, int dim,
                             long long rows_per_chunk, int nchunks, double *partials);

__global__ void __launch_bounds__(TP_BLOCK)
tp_token_mean_kernel(const float *x, float *y, long long batch, int tokens, int dim);

__global__ void __launch_bounds__(TP_BLOCK)
tp_token_mean_backward_kernel(const float *dy, float *dx, long long batch, int tokens, int dim);

__global__ void __launch_bounds__(TP_BLOCK)
tp_gather_rows_kernel(const float *src, long long src_rows, int cols, const float *idx, long long rows, float *dst);

__global__ void __launch_bounds__(TP_BLOCK)
tp_one_hot_kernel(const float *labels, long long rows, int classes, float *dst);

__global__ void __launch_bounds__(TP_BLOCK)
tp_count_correct_partials(const float *out, const float *labels, long long rows, int cols, double *partials);

} /* extern "C" */

#endif /* TWOPHASE_KERNELS_CUH */
