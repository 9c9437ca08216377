/*
 * twophase: native kernel benchmark (not a ctest; run by hand or by a script on a GPU box).
 *
 *   bench_kernels [--sizes 1000000,10000000,100000000] [--reps R] [--trials T] [--csv]
 *
 * For each n: a device-to-device cudaMemcpy as the baseline (8 bytes per element: one
 * read, one write), then every op twice: "kernel" = the extern "C" kernels launched back
 * to back (what the JCuda backend does; no host synchronization inside the timed loop),
 * and "api" = the tp_* C ABI call (what the FFM backend does; each call synchronizes and
 * the reductions copy their result to the host). Times are CUDA events around R calls,
 * the median of T trials. GB/s counts the bytes each op must move at minimum:
 *   adam 28 B/elem (p, g, m, v read; p, m, v written)      multi-dot k=3: 16 (x, y0..y2)
 *   adam amsgrad 36 (and vmax read and written)            adam 64 segments 28 (weight
 *   cg direction 16 (d, g read; d, g_prev written)           decay on every other tensor,
 *   trial point 12 (x0, d; x)                                the table on the device)
 *   segmented norms (sums of squares and max |g|) 4 (g; 64 tensors)   copy 8
 * The ratio column is GB/s over the copy's GB/s in the same run (only ratios are stable
 * on shared machines). Exits 77 with a message when there is no CUDA device.
 *
 * Then the conv ops (conv.cu, kernels only) at the shapes of VGG5 and the ViT patch embedding
 * at the paper's batch of 512, after a copy of the size of the largest (VGG5's second im2col)
 * as their baseline; n = elements written, minimum bytes per op:
 *   im2col, col2im 4 (in + patches)      max pool 4 (in + out)      its backward 8 (in + out)
 *   transpose 8 n (CIFAR's channels-last: 3 x 1024 per image, and back)
 */
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include <cuda_runtime.h>

#include "geometry.h"
#include "kernels.cuh"
#include "twophase.h"

#define BENCH_CUDA(call)                                                                    \
    do {                                                                                    \
        const cudaError_t e_ = (call);                                                      \
        if (e_ != cudaSuccess) {                                                            \
            std::fprintf(stderr, "%s:%d: %s: %s (%d)\n", __FILE__, __LINE__, #call,         \
                         cudaGetErrorString(e_), (int)e_);                                  \
            std::exit(1);                                                                   \
        }                                                                                   \
    } while (0)

#define BENCH_API(call)                                                                     \
    do {                                                                                    \
        const int rc_ = (call);                                                             \
        if (rc_ != 0) {                                                                     \
            std::fprintf(stderr, "%s:%d: %s: %s (%d)\n", __FILE__, __LINE__, #call,         \
                         tp_error_string(rc_), rc_);                                        \
            std::exit(1);                                                                   \
        }                                                                                   \
    } while (0)

#define BENCH_LAUNCH() BENCH_CUDA(cudaGetLastError())

/* Deterministic pseudo-random fill in [lo, hi), never zero for lo > 0 or hi < 0. */
__global__ void bench_fill(float *p, long long n, unsigned seed, float lo, float hi)
{
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
        unsigned h = (unsigned)i * 2654435761u ^ seed;
        h ^= h >> 16;
        h *= 0x7feb352du;
        h ^= h >> 15;
        p[i] = lo + (hi - lo) * (float)(h >> 8) * (1.0f / 16777216.0f);
    }
}

struct Options {
    std::vector<long long> sizes = {1000000LL, 10000000LL, 100000000LL};
    int reps = 0; /* 0: automatic */
    int trials = 5;
    bool csv = false;
};

static Options parse(int argc, char **argv)
{
    Options o;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--sizes" && i + 1 < argc) {
            o.sizes.clear();
            std::string s = argv[++i];
            size_t pos = 0;
            while (pos < s.size()) {
                size_t c = s.find(',', pos);
                if (c == std::string::npos) c = s.size();
                o.sizes.push_back((long long)std::stod(s.substr(pos, c - pos)));
                pos = c + 1;
            }
        } else if (a == "--reps" && i + 1 < argc) {
            o.reps = std::atoi(argv[++i]);
        } else if (a == "--trials" && i + 1 < argc) {
            o.trials = std::max(1, std::atoi(argv[++i]));
        } else if (a == "--csv") {
            o.csv = true;
        } else {
            std::fprintf(stderr, "usage: %s [--sizes a,b,c] [--reps R] [--trials T] [--csv]\n", argv[0]);
            std::exit(2);
        }
    }
    return o;
}

/* Median over trials of the mean time per call of f, in ms. */
template <typename F> static double time_ms(F &&f, int reps, int trials)
{
    cudaEvent_t a, b;
    BENCH_CUDA(cudaEventCreate(&a));
    BENCH_CUDA(cudaEventCreate(&b));
    for (int i = 0; i < 3; ++i) f(); /* warm-up */
    BENCH_CUDA(cudaDeviceSynchronize());
    std::vector<double> t;
    for (int k = 0; k < trials; ++k) {
        BENCH_CUDA(cudaEventRecord(a, 0));
        for (int i = 0; i < reps; ++i) f();
        BENCH_CUDA(cudaEventRecord(b, 0));
        BENCH_CUDA(cudaEventSynchronize(b));
        float ms = 0.0f;
        BENCH_CUDA(cudaEventElapsedTime(&ms, a, b));
        t.push_back((double)ms / reps);
    }
    BENCH_CUDA(cudaEventDestroy(a));
    BENCH_CUDA(cudaEventDestroy(b));
    std::sort(t.begin(), t.end());
    return t[t.size() / 2];
}

struct Row {
    const char *op;
    long long n;
    double ms, bytes;
};

/* One conv op at one shape (ConvShape's fields; for the transpose: batch, rows = height, cols = width). */
struct ConvBench {
    const char *op;
    enum Kind { IM2COL, COL2IM, POOL, POOL_BACKWARD, TRANSPOSE } kind;
    int batch, height, width, channels, kernel, stride, pad;
};

/* Launches per timing of an op over n elements: --reps, else about 1e9 elements in all (20..1000). */
static int reps_for(const Options &opt, long long n)
{
    return opt.reps > 0 ? opt.reps : (int)std::min(1000LL, std::max(20LL, 1000000000LL / n));
}

static void bench_conv_ops(const Options &opt, std::vector<Row> &rows)
{
    const ConvBench cases[] = {
        {"im2col vgg5 conv1", ConvBench::IM2COL, 512, 28, 28, 1, 3, 1, 1},
        {"im2col vgg5 conv2", ConvBench::IM2COL, 512, 14, 14, 32, 3, 1, 1},
        {"col2im vgg5 conv2", ConvBench::COL2IM, 512, 14, 14, 32, 3, 1, 1},
        {"im2col vgg5 conv3", ConvBench::IM2COL, 512, 7, 7, 64, 3, 1, 1},
        {"col2im vgg5 conv3", ConvBench::COL2IM, 512, 7, 7, 64, 3, 1, 1},
        {"maxpool vgg5 pool1", ConvBench::POOL, 512, 28, 28, 32, 2, 2, 0},
        {"maxpool bwd vgg5 pool1", ConvBench::POOL_BACKWARD, 512, 28, 28, 32, 2, 2, 0},
        {"maxpool vgg5 pool2", ConvBench::POOL, 512, 14, 14, 64, 2, 2, 0},
        {"maxpool bwd vgg5 pool2", ConvBench::POOL_BACKWARD, 512, 14, 14, 64, 2, 2, 0},
        {"im2col vit patch mnist", ConvBench::IM2COL, 512, 28, 28, 1, 7, 7, 0},
        {"im2col vit patch cifar", ConvBench::IM2COL, 512, 32, 32, 3, 8, 8, 0},
        {"transpose cifar 3x1024", ConvBench::TRANSPOSE, 512, 3, 1024, 1, 1, 1, 0},
        {"transpose cifar 1024x3", ConvBench::TRANSPOSE, 512, 1024, 3, 1, 1, 1, 0},
    };
    const long long copy_n = 512LL * 14 * 14 * 288;
    float *a, *b;
    BENCH_CUDA(cudaMalloc(&a, sizeof(float) * (size_t)copy_n));
    BENCH_CUDA(cudaMalloc(&b, sizeof(float) * (size_t)copy_n));
    bench_fill<<<1024, 256>>>(a, copy_n, 77u, -1.0f, 1.0f);
    BENCH_LAUNCH();
    rows.push_back({"copy d2d", copy_n, time_ms([&] {
        BENCH_CUDA(cudaMemcpyAsync(b, a, sizeof(float) * (size_t)copy_n, cudaMemcpyDeviceToDevice, 0)); }, reps_for(opt, copy_n), opt.trials),
        8.0 * (double)copy_n});
    for (const ConvBench &c : cases) {
        const int oh = (c.height + 2 * c.pad - c.kernel) / c.stride + 1, ow = (c.width + 2 * c.pad - c.kernel) / c.stride + 1;
        const long long in = (long long)c.batch * c.height * c.width * c.channels;
        const long long out = (long long)c.batch * oh * ow * c.channels;
        const long long patches = (long long)c.batch * oh * ow * c.kernel * c.kernel * c.channels;
        float *x, *y, *dy, *dx;
        for (float **buf : {&x, &y, &dy, &dx}) BENCH_CUDA(cudaMalloc(buf, sizeof(float) * (size_t)std::max(in, patches)));
        bench_fill<<<1024, 256>>>(x, std::max(in, patches), 78u, -1.0f, 1.0f);
        BENCH_LAUNCH();
        bench_fill<<<1024, 256>>>(dy, std::max(in, patches), 79u, -1.0f, 1.0f);
        BENCH_LAUNCH();
        BENCH_CUDA(cudaDeviceSynchronize());
        if (c.kind == ConvBench::POOL_BACKWARD) { /* y = the pooled x, so that every window routes its gradient */
            tp_max_pool_kernel<<<tp_elementwise_grid(out), TP_BLOCK>>>(x, y, c.batch, c.height, c.width, c.channels, c.kernel,
                                                                      c.stride, c.pad, oh, ow);
            BENCH_LAUNCH();
        }
        long long n = 0;
        double bytes = 0;
        std::function<void()> f;
        switch (c.kind) {
        case ConvBench::IM2COL:
            n = patches, bytes = 4.0 * (double)(in + patches);
            f = [&] { tp_im2col_kernel<<<tp_elementwise_grid(patches), TP_BLOCK>>>(x, dx, c.batch, c.height, c.width, c.channels,
                                                                               c.kernel, c.stride, c.pad, oh, ow); };
            break;
        case ConvBench::COL2IM:
            n = in, bytes = 4.0 * (double)(in + patches);
            f = [&] { tp_col2im_kernel<<<tp_elementwise_grid(in), TP_BLOCK>>>(x, dx, c.batch, c.height, c.width, c.channels,
                                                                           c.kernel, c.stride, c.pad, oh, ow); };
            break;
        case ConvBench::POOL:
            n = out, bytes = 4.0 * (double)(in + out);
            f = [&] { tp_max_pool_kernel<<<tp_elementwise_grid(out), TP_BLOCK>>>(x, dx, c.batch, c.height, c.width, c.channels,
                                                                             c.kernel, c.stride, c.pad, oh, ow); };
            break;
        case ConvBench::POOL_BACKWARD:
            n = in, bytes = 8.0 * (double)(in + out);
            f = [&] { tp_max_pool_backward_kernel<<<tp_elementwise_grid(in), TP_BLOCK>>>(x, y, dy, dx, c.batch, c.height, c.width,
                                                                                     c.channels, c.kernel, c.stride, c.pad, oh, ow); };
            break;
        case ConvBench::TRANSPOSE:
            n = in, bytes = 8.0 * (double)in;
            f = [&] { tp_batched_transpose_kernel<<<tp_transpose_grid(c.batch, c.height, c.width), TP_BLOCK>>>(x, dx, c.batch, c.height,
                                                                                                        c.width); };
            break;
        }
        rows.push_back({c.op, n, time_ms([&] { f(); BENCH_LAUNCH(); }, reps_for(opt, n), opt.trials), bytes});
        for (float *buf : {x, y, dy, dx}) BENCH_CUDA(cudaFree(buf));
    }
    BENCH_CUDA(cudaFree(a));
    BENCH_CUDA(cudaFree(b));
}

int main(int argc, char **argv)
{
    const Options opt = parse(argc, argv);
    int count = 0;
    const cudaError_t dc = cudaGetDeviceCount(&count);
    if (dc != cudaSuccess || count == 0) {
        std::printf("SKIPPED: no CUDA device (error %d: %s)\n", (int)dc,
                    dc != cudaSuccess ? cudaGetErrorString(dc) : "no devices");
        return 77;
    }
    cudaDeviceProp prop;
    BENCH_CUDA(cudaGetDeviceProperties(&prop, 0));
    int rt = 0, drv = 0;
    BENCH_CUDA(cudaRuntimeGetVersion(&rt));
    BENCH_CUDA(cudaDriverGetVersion(&drv));
    std::printf("# twophase kernel benchmark on %s (sm_%d%d, %d SMs), CUDA runtime %d, driver %d\n", prop.name,
                prop.major, prop.minor, prop.multiProcessorCount, rt, drv);
    std::printf("# GB/s = minimum bytes moved / time, 1 GB = 1e9 B; x copy = GB/s / (D2D memcpy GB/s, 8 B/elem)\n");
    std::printf("# median of %d trials; kernel = back-to-back launches, api = tp_* calls (synchronizing)\n",
                opt.trials);

    std::vector<Row> rows;
    for (const long long n : opt.sizes) {
        const int reps = reps_for(opt, n);
        const size_t bytes = (size_t)n * sizeof(float);
        float *p, *g, *m, *v, *vmax, *x, *y1, *y2;
        for (float **buf : {&p, &g, &m, &v, &vmax, &x, &y1, &y2}) BENCH_CUDA(cudaMalloc(buf, bytes));
        unsigned seed = 1;
        for (float *buf : {p, g, x, y1, y2}) {
            bench_fill<<<1024, 256>>>(buf, n, seed++, -1.0f, 1.0f);
            BENCH_LAUNCH();
        }
        bench_fill<<<1024, 256>>>(m, n, seed++, -0.01f, 0.01f);
        BENCH_LAUNCH();
        bench_fill<<<1024, 256>>>(v, n, seed++, 1e-6f, 1e-4f);
        BENCH_LAUNCH();
        bench_fill<<<1024, 256>>>(vmax, n, seed++, 1e-6f, 1e-4f);
        BENCH_LAUNCH();
        BENCH_CUDA(cudaDeviceSynchronize());

        const int grid = tp_elementwise_grid(n);
        double *partials, *dots;
        BENCH_CUDA(cudaMalloc(&partials, sizeof(double) * 3 * (size_t)grid));
        BENCH_CUDA(cudaMalloc(&dots, sizeof(double) * 3));

        /* 64 tensors of uneven sizes (weights 1..5), the chunk table on the device */
        std::vector<int64_t> off(1, 0);
        const int nt = 64;
        long long wsum = 0;
        for (int t = 0; t < nt; ++t) wsum += t % 5 + 1;
        for (int t = 0; t < nt; ++t) off.push_back(t == nt - 1 ? n : off.back() + n * (t % 5 + 1) / wsum);
        TpNormChunkTable table;
        if (tp_build_norm_chunk_table(off.data(), nt, &table) != 0) {
            std::fprintf(stderr, "bad norm layout\n");
            return 1;
        }
        const int nchunks = table.nchunks();
        long long *cs, *ce;
        int *first, *flag;
        double *chunk_sums, *norm_out;
        unsigned int *chunk_max, *max_out;
        BENCH_CUDA(cudaMalloc(&cs, sizeof(long long) * nchunks));
        BENCH_CUDA(cudaMalloc(&ce, sizeof(long long) * nchunks));
        BENCH_CUDA(cudaMalloc(&first, sizeof(int) * (nt + 1)));
        BENCH_CUDA(cudaMalloc(&flag, sizeof(int)));
        BENCH_CUDA(cudaMalloc(&chunk_sums, sizeof(double) * nchunks));
        BENCH_CUDA(cudaMalloc(&norm_out, sizeof(double) * (nt + 1)));
        BENCH_CUDA(cudaMalloc(&chunk_max, sizeof(unsigned int) * nchunks));
        BENCH_CUDA(cudaMalloc(&max_out, sizeof(unsigned int) * (nt + 1)));
        BENCH_CUDA(cudaMemcpy(cs, table.chunk_start.data(), sizeof(long long) * nchunks, cudaMemcpyHostToDevice));
        BENCH_CUDA(cudaMemcpy(ce, table.chunk_end.data(), sizeof(long long) * nchunks, cudaMemcpyHostToDevice));
        BENCH_CUDA(cudaMemcpy(first, table.tensor_first_chunk.data(), sizeof(int) * (nt + 1), cudaMemcpyHostToDevice));

        /* the same 64 tensors as Adam segments, weight decay on every other one (biases without) */
        const float row_decay[TP_ADAM_SCALARS] = {0.9f, 0.1f, 0.999f, 0.001f, 1e-3f, 0.5f, 1e-8f, 0.0f, 0.9999f, 1.0f};
        const float row_plain[TP_ADAM_SCALARS] = {0.9f, 0.1f, 0.999f, 0.001f, 1e-3f, 0.5f, 1e-8f, 0.0f, 1.0f, 1.0f};
        std::vector<float> seg_rows;
        for (int t = 0; t < nt; ++t) seg_rows.insert(seg_rows.end(), t % 2 ? row_plain : row_decay, (t % 2 ? row_plain : row_decay) + TP_ADAM_SCALARS);
        long long *seg_off;
        float *seg_tab;
        BENCH_CUDA(cudaMalloc(&seg_off, sizeof(long long) * (nt + 1)));
        BENCH_CUDA(cudaMalloc(&seg_tab, sizeof(float) * seg_rows.size()));
        BENCH_CUDA(cudaMemcpy(seg_off, off.data(), sizeof(long long) * (nt + 1), cudaMemcpyHostToDevice));
        BENCH_CUDA(cudaMemcpy(seg_tab, seg_rows.data(), sizeof(float) * seg_rows.size(), cudaMemcpyHostToDevice));
        const int64_t whole[2] = {0, n};
        long long *seg_off1; /* one segment: AMSGrad runs on the segmented kernel */
        float *seg_tab1;
        BENCH_CUDA(cudaMalloc(&seg_off1, sizeof whole));
        BENCH_CUDA(cudaMalloc(&seg_tab1, sizeof row_plain));
        BENCH_CUDA(cudaMemcpy(seg_off1, whole, sizeof whole, cudaMemcpyHostToDevice));
        BENCH_CUDA(cudaMemcpy(seg_tab1, row_plain, sizeof row_plain, cudaMemcpyHostToDevice));

        const double N = (double)n;
        const float *ys[3] = {x, y1, y2};
        double host_dots[3], host_norms[65];
        float host_max[65];
        int host_flag = 0;

        rows.push_back({"copy d2d", n, time_ms([&] { BENCH_CUDA(cudaMemcpyAsync(y2, y1, bytes, cudaMemcpyDeviceToDevice, 0)); }, reps, opt.trials), 8 * N});
        rows.push_back({"adam kernel", n, time_ms([&] {
            tp_adam_kernel<<<grid, TP_BLOCK>>>(p, g, m, v, n, 0.9f, 0.1f, 0.999f, 0.001f, 1e-3f, 0.5f, 1e-8f, 0.0f, 1.0f, 1.0f, nullptr);
            BENCH_LAUNCH(); }, reps, opt.trials), 28 * N});
        rows.push_back({"adam api", n, time_ms([&] {
            BENCH_API(tp_adam_step(p, g, m, v, nullptr, n, whole, row_plain, 1, nullptr)); }, reps, opt.trials), 28 * N});
        rows.push_back({"adam amsgrad kernel", n, time_ms([&] {
            tp_adam_segments_kernel<<<grid, TP_BLOCK>>>(p, g, m, v, vmax, n, seg_off1, seg_tab1, 1, nullptr);
            BENCH_LAUNCH(); }, reps, opt.trials), 36 * N});
        rows.push_back({"adam 64 segments kernel", n, time_ms([&] {
            tp_adam_segments_kernel<<<grid, TP_BLOCK>>>(p, g, m, v, nullptr, n, seg_off, seg_tab, nt, nullptr);
            BENCH_LAUNCH(); }, reps, opt.trials), 28 * N});
        rows.push_back({"adam 64 segments api", n, time_ms([&] {
            BENCH_API(tp_adam_step(p, g, m, v, nullptr, n, off.data(), seg_rows.data(), nt, nullptr)); }, reps, opt.trials), 28 * N});
        rows.push_back({"multi_dot k=3 kernel", n, time_ms([&] {
            tp_multi_dot_partials<<<grid, TP_BLOCK>>>(g, x, y1, y2, nullptr, 3, n, partials);
            BENCH_LAUNCH();
            tp_reduce_partials<<<3, TP_BLOCK>>>(partials, 3, grid, dots);
            BENCH_LAUNCH(); }, reps, opt.trials), 16 * N});
        rows.push_back({"multi_dot k=3 api", n, time_ms([&] { BENCH_API(tp_multi_dot(g, ys, 3, n, host_dots)); }, reps, opt.trials), 16 * N});
        rows.push_back({"cg_direction kernel", n, time_ms([&] {
            tp_cg_direction_kernel<<<grid, TP_BLOCK>>>(x, g, y1, n, 0.5f);
            BENCH_LAUNCH(); }, reps, opt.trials), 16 * N});
        rows.push_back({"cg_direction api", n, time_ms([&] { BENCH_API(tp_cg_direction(x, g, y1, n, 0.5f)); }, reps, opt.trials), 16 * N});
        rows.push_back({"trial_point kernel", n, time_ms([&] {
            tp_trial_point_kernel<<<grid, TP_BLOCK>>>(y2, p, x, n, 1e-3f);
            BENCH_LAUNCH(); }, reps, opt.trials), 12 * N});
        rows.push_back({"trial_point api", n, time_ms([&] { BENCH_API(tp_trial_point(y2, p, x, n, 1e-3f)); }, reps, opt.trials), 12 * N});
        rows.push_back({"norms 64 tensors kernel", n, time_ms([&] {
            BENCH_CUDA(cudaMemsetAsync(flag, 0, sizeof(int), 0));
            tp_norm_chunks<<<nchunks, TP_BLOCK>>>(g, cs, ce, chunk_sums, chunk_max, flag);
            BENCH_LAUNCH();
            tp_norm_cleanup<<<1, TP_BLOCK>>>(chunk_sums, chunk_max, first, nt, norm_out, max_out);
            BENCH_LAUNCH(); }, reps, opt.trials), 4 * N});
        rows.push_back({"norms 64 tensors api", n, time_ms([&] {
            BENCH_API(tp_segmented_norms(g, off.data(), nt, host_norms, host_max, &host_flag, nullptr)); }, reps, opt.trials), 4 * N});
        if (host_flag != 0) std::fprintf(stderr, "warning: non-finite gradient in the benchmark data\n");

        for (void *buf : {(void *)p, (void *)g, (void *)m, (void *)v, (void *)vmax, (void *)x, (void *)y1, (void *)y2,
                          (void *)partials, (void *)dots, (void *)cs, (void *)ce, (void *)first, (void *)flag,
                          (void *)chunk_sums, (void *)norm_out, (void *)chunk_max, (void *)max_out, (void *)seg_off,
                          (void *)seg_tab, (void *)seg_off1, (void *)seg_tab1})
            BENCH_CUDA(cudaFree(buf));
        BENCH_API(tp_release_scratch());
    }

    bench_conv_ops(opt, rows);

    if (opt.csv) std::printf("op,n,ms,GBps,ratio_to_copy\n");
    else std::printf("%-26s %12s %10s %9s %8s\n", "op", "n", "ms", "GB/s", "x copy");
    double copy_gbps = 0.0;
    for (const Row &r : rows) {
        const double gbps = r.bytes / (r.ms * 1e-3) / 1e9;
        if (std::strcmp(r.op, "copy d2d") == 0) copy_gbps = gbps;
        const double ratio = copy_gbps > 0 ? gbps / copy_gbps : 0.0;
        if (opt.csv) std::printf("%s,%lld,%.6f,%.2f,%.3f\n", r.op, r.n, r.ms, gbps, ratio);
        else std::printf("%-26s %12lld %10.4f %9.1f %8.3f\n", r.op, r.n, r.ms, gbps, ratio);
    }
    return 0;
}
