/*
 * twophase: the data-movement ops of the convolutional models on channels-last (NHWC) batches:
 * im2col and its adjoint col2im, max pooling forward and backward, and the batched transpose
 * that turns channel-major images into channels-last ones.
 *
 * Shapes as dev.twophase.backend.ConvShape: `batch` images of height x width x channels, square
 * windows of `kernel`, `stride`, zero padding `pad` on every side, out_h = (height + 2 pad -
 * kernel) / stride + 1 (out_w likewise). Window cell (ky, kx) of output pixel (oy, ox) reads
 * input pixel (oy*stride - pad + ky, ox*stride - pad + kx). Kernels (extern "C", block = TP_BLOCK
 * or any other size: none of them depends on it; grids from geometry.h):
 *
 *   tp_im2col_kernel(x, cols, batch, height, width, channels, kernel, stride, pad, out_h, out_w)
 *     grid = tp_elementwise_grid(batch * out_h * out_w * kernel^2 * channels), one thread per
 *     element of cols (row (b, oy, ox), column (ky, kx, c)): the input value, 0 outside the image.
 *   tp_col2im_kernel(cols, dx, <same shape>)
 *     grid = tp_elementwise_grid(batch * height * width * channels), one thread per element of
 *     dx, which it gathers: 0 + the cols entries that read it, windows in (oy, ox) order, each
 *     addition rounded to float (the order of the CPU backend's scatter loop, so the sums are
 *     bit-identical to it; no atomics).
 *   tp_max_pool_kernel(x, y, <same shape>)
 *     grid = tp_elementwise_grid(batch * out_h * out_w * channels): y = Java's Math.max over the
 *     window's cells inside the image, in window order, from -infinity (NaN wins, +0 > -0).
 *   tp_max_pool_backward_kernel(x, y, dy, dx, <same shape>)
 *     grid = tp_elementwise_grid(batch * height * width * channels), one thread per element of
 *     dx: 0 + dy of every window (in (oy, ox) order) whose first cell in window order with
 *     x == y is this element.
 *   tp_batched_transpose_kernel(x, y, batch, rows, cols)
 *     grid = tp_transpose_grid(batch, rows, cols): y[b] = x[b]^T through 32 x 33 shared-memory
 *     tiles (reads and writes along rows, no bank conflicts), tiles in grid-stride order.
 *
 * Every kernel writes each output element exactly once, from one thread, and reads no output:
 * results do not depend on the grid, the block size or the device. Loops over run-time sizes
 * count in 64 bits; the coordinates inside one image are ints (the host checks that an image,
 * a patch row and the padded sides fit in an int).
 */
#include "common.cuh"

/* The output rows (oy or ox) whose window covers input coordinate t = i + pad: those with
 * 0 <= t - o*stride < kernel, clipped to [0, out). Empty when first > last. */
__device__ __forceinline__ void tp_covering_windows(const int t, const int kernel, const int stride, const int out,
                                                    int *first, int *last)
{
    *first = t < kernel ? 0 : (t - kernel) / stride + 1;
    const int l = t / stride;
    *last = l < out - 1 ? l : out - 1;
}

extern "C" __global__ void __launch_bounds__(TP_BLOCK)
tp_im2col_kernel(const float *x, float *cols, int batch, int height, int width, int channels, int kernel, int stride,
                 int pad, int out_h, int out_w)
{
    const int patch = kernel * kernel * channels;
    const long long out_pixels = (long long)out_h * out_w;
    const long long n = (long long)batch * out_pixels * patch;
    const long long step = tp_grid_stride();
    for (long long i = tp_thread_index(); i < n; i += step) {
        const long long row = i / patch;
        const int col = (int)(i - row * patch);
        const long long b = row / out_pixels;
        const int pix = (int)(row - b * out_pixels);
        const int oy = pix / out_w, ox = pix - oy * out_w;
        const int cell = col / channels, c = col - cell * channels;
        const int ky = cell / kernel, kx = cell - ky * kernel;
        const int iy = oy * stride - pad + ky, ix = ox * stride - pad + kx;
        const bool inside = iy >= 0 && iy < height && ix >= 0 && ix < width;
        cols[i] = inside ? x[((b * height + iy) * width + ix) * channels + c] : 0.0f;
    }
}

extern "C" __global__ void __launch_bounds__(TP_BLOCK)
tp_col2im_kernel(const float *cols, float *dx, int batch, int height, int width, int channels, int kernel, int stride,
                 int pad, int out_h, int out_w)
{
    const int patch = kernel * kernel * channels;
    const long long image = (long long)height * width;
    const long long n = (long long)batch * image * channels;
    const long long step = tp_grid_stride();
    for (long long i = tp_thread_index(); i < n; i += step) {
        const long long pixel = i / channels;
        const int c = (int)(i - pixel * channels);
        const long long b = pixel / image;
        const int p = (int)(pixel - b * image);
        const int ty = p / width + pad, tx = p % width + pad;
        int oy0, oy1, ox0, ox1;
        tp_covering_windows(ty, kernel, stride, out_h, &oy0, &oy1);
        tp_covering_windows(tx, kernel, stride, out_w, &ox0, &ox1);
        float acc = 0.0f;
        for (int oy = oy0; oy <= oy1; ++oy) {
            const long long row0 = (b * out_h + oy) * out_w;
            const int ky = ty - oy * stride;
            for (int ox = ox0; ox <= ox1; ++ox) {
                const int kx = tx - ox * stride;
                acc = __fadd_rn(acc, cols[(row0 + ox) * patch + (ky * kernel + kx) * channels + c]);
            }
        }
        dx[i] = acc;
    }
}

extern "C" __global__ void __launch_bounds__(TP_BLOCK)
tp_max_pool_kernel(const float *x, float *y, int batch, int height, int width, int channels, int kernel, int stride,
                   int pad, int out_h, int out_w)
{
    const long long out_pixels = (long long)out_h * out_w;
    const long long n = (long long)batch * out_pixels * channels;
    const long long step = tp_grid_stride();
    for (long long i = tp_thread_index(); i < n; i += step) {
        const long long pixel = i / channels;
        const int c = (int)(i - pixel * channels);
        const long long b = pixel / out_pixels;
        const int pix = (int)(pixel - b * out_pixels);
        const int y0 = (pix / out_w) * stride - pad, x0 = (pix % out_w) * stride - pad;
        float m = -INFINITY;
        for (int ky = 0; ky < kernel; ++ky) {
            const int iy = y0 + ky;
            if (iy < 0 || iy >= height) continue;
            const float *line = x + ((b * height + iy) * width) * channels + c;
            for (int kx = 0; kx < kernel; ++kx) {
                const int ix = x0 + kx;
                if (ix >= 0 && ix < width) m = tp_java_max(m, line[(long long)ix * channels]);
            }
        }
        y[i] = m;
    }
}

extern "C" __global__ void __launch_bounds__(TP_BLOCK)
tp_max_pool_backward_kernel(const float *x, const float *y, const float *dy, float *dx, int batch, int height,
                            int width, int channels, int kernel, int stride, int pad, int out_h, int out_w)
{
    const long long image = (long long)height * width;
    const long long n = (long long)batch * image * channels;
    const long long step = tp_grid_stride();
    for (long long i = tp_thread_index(); i < n; i += step) {
        const long long pixel = i / channels;
        const int c = (int)(i - pixel * channels);
        const long long b = pixel / image;
        const int p = (int)(pixel - b * image);
        const int iy = p / width, ix = p % width;
        const float own = x[i];
        const float *img = x + b * image * channels + c;
        int oy0, oy1, ox0, ox1;
        tp_covering_windows(iy + pad, kernel, stride, out_h, &oy0, &oy1);
        tp_covering_windows(ix + pad, kernel, stride, out_w, &ox0, &ox1);
        float acc = 0.0f;
        for (int oy = oy0; oy <= oy1; ++oy) {
            const int wy = oy * stride - pad;
            for (int ox = ox0; ox <= ox1; ++ox) {
                const int wx = ox * stride - pad;
                const long long out = ((b * out_h + oy) * out_w + ox) * channels + c;
                const float m = y[out];
                /* the window's cells in order up to this one: an earlier cell equal to the
                 * maximum takes the gradient; otherwise this one does if it equals it */
                bool first = false, decided = false;
                for (int ky = 0; ky < kernel && !decided; ++ky) {
                    const int cy = wy + ky;
                    if (cy < 0 || cy >= height) continue;
                    for (int kx = 0; kx < kernel; ++kx) {
                        const int cx = wx + kx;
                        if (cx < 0 || cx >= width) continue;
                        if (cy == iy && cx == ix) {
                            first = own == m;
                            decided = true;
                            break;
                        }
                        if (img[((long long)cy * width + cx) * channels] == m) {
                            decided = true;
                            break;
                        }
                    }
                }
                if (first) acc = __fadd_rn(acc, dy[out]);
            }
        }
        dx[i] = acc;
    }
}

extern "C" __global__ void __launch_bounds__(TP_BLOCK)
tp_batched_transpose_kernel(const float *x, float *y, int batch, int rows, int cols)
{
    __shared__ float tile[TP_TRANSPOSE_TILE][TP_TRANSPOSE_TILE + 1]; /* +1: columns fall in distinct banks */
    const long long tiles_r = ((long long)rows + TP_TRANSPOSE_TILE - 1) / TP_TRANSPOSE_TILE;
    const long long tiles_c = ((long long)cols + TP_TRANSPOSE_TILE - 1) / TP_TRANSPOSE_TILE;
    const long long per_matrix = tiles_r * tiles_c, matrix = (long long)rows * cols;
    const long long ntiles = (long long)batch * per_matrix;
    /* t is the same for the whole block, so every thread reaches both barriers */
    for (long long t = blockIdx.x; t < ntiles; t += gridDim.x) {
        const long long b = t / per_matrix, rest = t - b * per_matrix;
        const long long tr = rest / tiles_c, tc = rest - tr * tiles_c;
        const long long r0 = tr * TP_TRANSPOSE_TILE, c0 = tc * TP_TRANSPOSE_TILE;
        const float *xb = x + b * matrix;
        float *yb = y + b * matrix;
        /* load: consecutive threads read consecutive columns of a row of x */
        for (int e = (int)threadIdx.x; e < TP_TRANSPOSE_TILE * TP_TRANSPOSE_TILE; e += (int)blockDim.x) {
            const int rr = e / TP_TRANSPOSE_TILE, cc = e % TP_TRANSPOSE_TILE;
            if (r0 + rr < rows && c0 + cc < cols) tile[rr][cc] = xb[(r0 + rr) * cols + c0 + cc];
        }
        __syncthreads();
        /* store: consecutive threads write consecutive columns of a row of y (a column of the tile) */
        for (int e = (int)threadIdx.x; e < TP_TRANSPOSE_TILE * TP_TRANSPOSE_TILE; e += (int)blockDim.x) {
            const int cc = e / TP_TRANSPOSE_TILE, rr = e % TP_TRANSPOSE_TILE;
            if (r0 + rr < rows && c0 + cc < cols) yb[(c0 + cc) * rows + r0 + rr] = tile[rr][cc];
        }
        __syncthreads();
    }
}

/* ------------------------------------------------------------------ host wrappers */
#ifndef TP_KERNELS_ONLY

/* a * b into *out when both are >= 0 and the product fits in int64 */
static bool tp_conv_mul(int64_t a, int64_t b, int64_t *out)
{
    if (a < 0 || b < 0 || (a > 0 && b > INT64_MAX / a)) return false;
    *out = a * b;
    return true;
}

/* A validated conv/pool shape (as ConvShape's constructor checks it) and its sizes. */
struct TpConvDims {
    int batch, height, width, channels, kernel, stride, pad, out_h, out_w;
    int64_t in;      /* floats of the input batch                   */
    int64_t pooled;  /* floats of the output: out pixels x channels */
    int64_t patches; /* floats of the im2col matrix                 */
};

static bool tp_conv_dims(int batch, int height, int width, int channels, int kernel, int stride, int pad,
                         TpConvDims *d)
{
    if (batch < 1 || height < 1 || width < 1 || channels < 1 || kernel < 1 || stride < 1 || pad < 0) return false;
    const int64_t ph = (int64_t)height + 2 * (int64_t)pad, pw = (int64_t)width + 2 * (int64_t)pad;
    if (ph < kernel || pw < kernel || ph > INT_MAX || pw > INT_MAX) return false;
    const int64_t out_h = (ph - kernel) / stride + 1, out_w = (pw - kernel) / stride + 1;
    int64_t image = 0, out_pixels = 0, k2 = 0, patch = 0, t = 0, in = 0, pooled = 0, patches = 0;
    /* the kernels hold a pixel index within one image (input and output) and a patch column in ints */
    if (!tp_conv_mul(height, width, &image) || image > INT_MAX) return false;
    if (!tp_conv_mul(out_h, out_w, &out_pixels) || out_pixels > INT_MAX) return false;
    if (!tp_conv_mul(kernel, kernel, &k2) || !tp_conv_mul(k2, channels, &patch) || patch > INT_MAX) return false;
    if (!tp_conv_mul(image, channels, &t) || !tp_conv_mul(t, batch, &in)) return false;
    if (!tp_conv_mul(out_pixels, channels, &t) || !tp_conv_mul(t, batch, &pooled)) return false;
    if (!tp_conv_mul(out_pixels, patch, &t) || !tp_conv_mul(t, batch, &patches)) return false;
    *d = TpConvDims{batch, height, width, channels, kernel, stride, pad, (int)out_h, (int)out_w, in, pooled, patches};
    return true;
}

#define TP_CONV_DIMS_ARGS(d) (d).batch, (d).height, (d).width, (d).channels, (d).kernel, (d).stride, (d).pad, (d).out_h, (d).out_w

extern "C" int tp_im2col(const float *x, float *cols, int batch, int height, int width, int channels, int kernel,
                         int stride, int pad)
{
    TpConvDims d;
    TP_REQUIRE(tp_conv_dims(batch, height, width, channels, kernel, stride, pad, &d) && x != nullptr && cols != nullptr);
    TP_LAUNCH(tp_im2col_kernel, tp_elementwise_grid(d.patches), TP_BLOCK, x, cols, TP_CONV_DIMS_ARGS(d));
    TP_LAUNCH_CHECK();
    return 0;
}

extern "C" int tp_col2im(const float *cols, float *dx, int batch, int height, int width, int channels, int kernel,
                         int stride, int pad)
{
    TpConvDims d;
    TP_REQUIRE(tp_conv_dims(batch, height, width, channels, kernel, stride, pad, &d) && cols != nullptr && dx != nullptr);
    TP_LAUNCH(tp_col2im_kernel, tp_elementwise_grid(d.in), TP_BLOCK, cols, dx, TP_CONV_DIMS_ARGS(d));
    TP_LAUNCH_CHECK();
    return 0;
}

extern "C" int tp_max_pool(const float *x, float *y, int batch, int height, int width, int channels, int kernel,
                           int stride, int pad)
{
    TpConvDims d;
    TP_REQUIRE(tp_conv_dims(batch, height, width, channels, kernel, stride, pad, &d) && x != nullptr && y != nullptr);
    TP_LAUNCH(tp_max_pool_kernel, tp_elementwise_grid(d.pooled), TP_BLOCK, x, y, TP_CONV_DIMS_ARGS(d));
    TP_LAUNCH_CHECK();
    return 0;
}

extern "C" int tp_max_pool_backward(const float *x, const float *y, const float *dy, float *dx, int batch, int height,
                                    int width, int channels, int kernel, int stride, int pad)
{
    TpConvDims d;
    TP_REQUIRE(tp_conv_dims(batch, height, width, channels, kernel, stride, pad, &d));
    TP_REQUIRE(x != nullptr && y != nullptr && dy != nullptr && dx != nullptr);
    TP_LAUNCH(tp_max_pool_backward_kernel, tp_elementwise_grid(d.in), TP_BLOCK, x, y, dy, dx, TP_CONV_DIMS_ARGS(d));
    TP_LAUNCH_CHECK();
    return 0;
}

extern "C" int tp_batched_transpose(const float *x, float *y, int batch, int rows, int cols)
{
    int64_t t = 0, n = 0;
    TP_REQUIRE(tp_conv_mul(batch, rows, &t) && tp_conv_mul(t, cols, &n));
    if (n == 0) return 0;
    TP_REQUIRE(x != nullptr && y != nullptr);
    TP_LAUNCH(tp_batched_transpose_kernel, tp_transpose_grid(batch, rows, cols), TP_BLOCK, x, y, batch, rows, cols);
    TP_LAUNCH_CHECK();
    return 0;
}

#endif /* TP_KERNELS_ONLY */
