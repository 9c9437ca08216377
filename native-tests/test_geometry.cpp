/*
 * twophase native tests (CPU only, always run): the host-side launch geometry and the
 * segmented-norm chunk table of cuda/geometry.h, which the JCuda backend mirrors.
 */
#include <cstdint>
#include <vector>

#include "geometry.h"
#include "test_util.h"

static void test_elementwise_grid()
{
    const int64_t per_block = (int64_t)TP_BLOCK * 4;
    TPT_CHECK(tp_elementwise_grid(0) == 0, "n = 0");
    TPT_CHECK(tp_elementwise_grid(-5) == 0, "n < 0");
    TPT_CHECK(tp_elementwise_grid(1) == 1, "n = 1");
    TPT_CHECK(tp_elementwise_grid(per_block) == 1, "n = one block");
    TPT_CHECK(tp_elementwise_grid(per_block + 1) == 2, "n = one block + 1");
    TPT_CHECK(tp_elementwise_grid(7) == 1 && tp_elementwise_grid(4097) == 5, "odd sizes");
    TPT_CHECK(tp_elementwise_grid(1000003) == 977, "1000003 -> %d", tp_elementwise_grid(1000003));
    TPT_CHECK(tp_elementwise_grid(per_block * TP_MAX_GRID) == TP_MAX_GRID, "exactly the cap");
    TPT_CHECK(tp_elementwise_grid(per_block * TP_MAX_GRID + 1) == TP_MAX_GRID, "capped");
    TPT_CHECK(tp_elementwise_grid((int64_t)1 << 40) == TP_MAX_GRID, "2^40");
    TPT_CHECK(tp_elementwise_grid(INT64_MAX) == TP_MAX_GRID, "INT64_MAX does not overflow");
    /* monotone and equal to min(ceil(n / per_block), cap) on a sweep */
    bool ok = true;
    for (int64_t n = 1; n < 3 * per_block * TP_MAX_GRID; n += 977) {
        const int64_t want = (n + per_block - 1) / per_block;
        ok = ok && tp_elementwise_grid(n) == (want < TP_MAX_GRID ? want : TP_MAX_GRID);
    }
    TPT_CHECK(ok, "grid formula sweep");
}

/* Every chunk lies inside its tensor, is non-empty and at most TP_NORM_CHUNK long, and
 * the chunks of each tensor tile it exactly, in order. */
static bool table_consistent(const std::vector<int64_t> &off, const TpNormChunkTable &tab)
{
    const int nt = (int)off.size() - 1;
    if ((int)tab.tensor_first_chunk.size() != nt + 1) return false;
    if (tab.tensor_first_chunk[0] != 0 || tab.tensor_first_chunk[(size_t)nt] != tab.nchunks()) return false;
    for (int t = 0; t < nt; ++t) {
        const int c0 = tab.tensor_first_chunk[(size_t)t], c1 = tab.tensor_first_chunk[(size_t)t + 1];
        if (c1 - c0 != (int)tp_norm_chunk_count(off[(size_t)t + 1] - off[(size_t)t])) return false;
        int64_t pos = off[(size_t)t];
        for (int c = c0; c < c1; ++c) {
            const int64_t s = tab.chunk_start[(size_t)c], e = tab.chunk_end[(size_t)c];
            if (s != pos || e <= s || e - s > TP_NORM_CHUNK || e > off[(size_t)t + 1]) return false;
            pos = e;
        }
        if (pos != off[(size_t)t + 1]) return false;
    }
    return true;
}

static void test_chunk_table()
{
    TpNormChunkTable tab;
    /* empty tensors own no chunks */
    std::vector<int64_t> off = {0, 0, 3, 3, TP_NORM_CHUNK + 3, 2 * TP_NORM_CHUNK + 4, 2 * TP_NORM_CHUNK + 4};
    TPT_CHECK(tp_build_norm_chunk_table(off.data(), 6, &tab) == 0, "valid layout rejected");
    TPT_CHECK(tab.nchunks() == 1 + 1 + 2, "nchunks %d", tab.nchunks());
    const std::vector<int> first = {0, 0, 1, 1, 2, 4, 4};
    TPT_CHECK(tab.tensor_first_chunk == first, "tensor_first_chunk");
    TPT_CHECK(tab.chunk_start[2] == TP_NORM_CHUNK + 3 && tab.chunk_end[2] == 2 * TP_NORM_CHUNK + 3 &&
                  tab.chunk_start[3] == 2 * TP_NORM_CHUNK + 3 && tab.chunk_end[3] == 2 * TP_NORM_CHUNK + 4,
              "chunk split of a CHUNK+1 tensor");
    TPT_CHECK(table_consistent(off, tab), "layout 1");

    /* no tensors */
    off = {0};
    TPT_CHECK(tp_build_norm_chunk_table(off.data(), 0, &tab) == 0 && tab.nchunks() == 0 &&
                  tab.tensor_first_chunk.size() == 1 && tab.tensor_first_chunk[0] == 0,
              "no tensors");

    /* thousands of tensors of random sizes, some empty */
    tpt::Rng rng(11);
    off.assign(1, 0);
    for (int t = 0; t < 3000; ++t) off.push_back(off.back() + (t % 7 == 0 ? 0 : rng.below(3 * TP_NORM_CHUNK)));
    TPT_CHECK(tp_build_norm_chunk_table(off.data(), 3000, &tab) == 0, "3000 tensors");
    TPT_CHECK(table_consistent(off, tab), "3000 tensors consistent");

    /* one huge tensor past 2^31 elements: 64-bit bounds */
    const int64_t huge = ((int64_t)1 << 31) + 4099;
    off = {0, 5, 5 + huge, 5 + huge + 7};
    TPT_CHECK(tp_build_norm_chunk_table(off.data(), 3, &tab) == 0, "huge tensor");
    TPT_CHECK(tab.nchunks() == 1 + (int)((huge + TP_NORM_CHUNK - 1) / TP_NORM_CHUNK) + 1, "huge nchunks %d", tab.nchunks());
    TPT_CHECK(tab.chunk_end[(size_t)tab.nchunks() - 1] == 5 + huge + 7, "huge end");
    TPT_CHECK(table_consistent(off, tab), "huge consistent");

    /* invalid layouts */
    std::vector<int64_t> bad = {1, 4};
    TPT_CHECK(tp_build_norm_chunk_table(bad.data(), 1, &tab) == TP_ERR_INVALID_VALUE, "offsets[0] != 0");
    bad = {0, 4, 3};
    TPT_CHECK(tp_build_norm_chunk_table(bad.data(), 2, &tab) == TP_ERR_INVALID_VALUE, "decreasing");
    TPT_CHECK(tp_build_norm_chunk_table(nullptr, 1, &tab) == TP_ERR_INVALID_VALUE, "NULL offsets");
    TPT_CHECK(tp_build_norm_chunk_table(bad.data(), -1, &tab) == TP_ERR_INVALID_VALUE, "ntensors < 0");
    bad = {0, (int64_t)TP_NORM_CHUNK * ((int64_t)1 << 31)};
    TPT_CHECK(tp_build_norm_chunk_table(bad.data(), 1, &tab) == TP_ERR_INVALID_VALUE, "more than INT_MAX chunks");
}

/* The model-op geometry; the Java mirror (CudaGeometryTest) checks the same numbers. */
static void test_model_geometry()
{
    TPT_CHECK(tp_row_grid(0) == 0 && tp_row_grid(-1) == 0, "row grid of no rows");
    TPT_CHECK(tp_row_grid(1) == 1 && tp_row_grid(8) == 1 && tp_row_grid(9) == 2, "row grid 1, 8, 9");
    TPT_CHECK(tp_row_grid(4097) == 513 && tp_row_grid(1000003) == TP_MAX_ROW_GRID, "row grid 4097 -> %d",
              tp_row_grid(4097));
    TPT_CHECK(tp_row_grid((int64_t)TP_MAX_ROW_GRID * TP_ROWS_PER_BLOCK) == TP_MAX_ROW_GRID, "row grid at the cap");

    TPT_CHECK(tp_bias_chunks(0) == 0 && tp_bias_rows_per_chunk(0) == TP_BIAS_CHUNK_ROWS, "bias: no rows");
    TPT_CHECK(tp_bias_chunks(1) == 1 && tp_bias_chunks(256) == 1 && tp_bias_chunks(257) == 2, "bias chunks 1, 256, 257");
    TPT_CHECK(tp_bias_chunks(1000003) == 977 && tp_bias_rows_per_chunk(1000003) == 1024,
              "bias 1000003: %d chunks of %lld", tp_bias_chunks(1000003), (long long)tp_bias_rows_per_chunk(1000003));
    const int64_t span = (int64_t)TP_BIAS_CHUNK_ROWS * TP_BIAS_MAX_CHUNKS;
    TPT_CHECK(tp_bias_chunks(span) == TP_BIAS_MAX_CHUNKS && tp_bias_rows_per_chunk(span) == 256, "bias at the cap");
    TPT_CHECK(tp_bias_rows_per_chunk(span + 1) == 512 && tp_bias_chunks(span + 1) == 513, "bias past the cap: %lld, %d",
              (long long)tp_bias_rows_per_chunk(span + 1), tp_bias_chunks(span + 1));
    TPT_CHECK(tp_bias_rows_per_chunk((int64_t)1 << 40) % TP_BIAS_ROW_LANES == 0 &&
                  tp_bias_chunks((int64_t)1 << 40) <= TP_BIAS_MAX_CHUNKS,
              "bias 2^40 rows");
    bool ok = true;
    for (int64_t rows = 1; rows < 40 * span; rows += 7919) {
        const int64_t per = tp_bias_rows_per_chunk(rows);
        const int chunks = tp_bias_chunks(rows);
        ok = ok && per % TP_BIAS_ROW_LANES == 0 && chunks <= TP_BIAS_MAX_CHUNKS && (int64_t)chunks * per >= rows &&
             (int64_t)(chunks - 1) * per < rows;
    }
    TPT_CHECK(ok, "bias chunk sweep");
    /* the column grids in 64 bits: (cols + 31) / 32 in int arithmetic is negative at INT_MAX */
    TPT_CHECK(tp_bias_column_blocks(0) == 0 && tp_bias_column_blocks(1) == 1 && tp_bias_column_blocks(32) == 1 &&
                  tp_bias_column_blocks(33) == 2, "bias column blocks 0, 1, 32, 33");
    TPT_CHECK(tp_bias_finish_grid(0) == 0 && tp_bias_finish_grid(1000) == 4 && tp_bias_finish_grid(TP_BLOCK) == 1,
              "bias finish grid 0, 1000, TP_BLOCK");
    TPT_CHECK(tp_bias_column_blocks(INT_MAX) == 67108864 && tp_bias_finish_grid(INT_MAX) == 8388608,
              "bias grids of INT_MAX columns: %d %d", tp_bias_column_blocks(INT_MAX), tp_bias_finish_grid(INT_MAX));

    TPT_CHECK(tp_gemm_grid_x(0) == 0 && tp_gemm_grid_y(0) == 0, "gemm grid of nothing");
    TPT_CHECK(tp_gemm_grid_x(1) == 1 && tp_gemm_grid_x(64) == 1 && tp_gemm_grid_x(65) == 2, "gemm grid x");
    TPT_CHECK(tp_gemm_grid_y(4097) == 65 && tp_gemm_grid_y(1000003) == 15626, "gemm grid y 4097, 1000003");
    TPT_CHECK(tp_gemm_grid_y(INT_MAX) == TP_GEMM_MAX_GRID_Y && tp_gemm_grid_x(INT_MAX) == 33554432,
              "gemm grid of INT_MAX: %d %d", tp_gemm_grid_y(INT_MAX), tp_gemm_grid_x(INT_MAX));

    /* attention: batched matmul items and the layer norm chunk blocks */
    TPT_CHECK(tp_bmm_tiles(0, 5) == 0 && tp_bmm_tiles(1, 1) == 1 && tp_bmm_tiles(16, 16) == 1 && tp_bmm_tiles(17, 16) == 2 &&
                  tp_bmm_tiles(49, 64) == 16, "bmm tiles");
    TPT_CHECK(tp_bmm_tiles(INT_MAX, INT_MAX) == (int64_t)134217728 * 134217728, "bmm tiles of INT_MAX x INT_MAX");
    TPT_CHECK(tp_batched_matmul_grid(0, 16, 16) == 0 && tp_batched_matmul_grid(5, 0, 16) == 0, "bmm grid of nothing");
    TPT_CHECK(tp_batched_matmul_grid(2048, 16, 16) == 2048 && tp_batched_matmul_grid(2048, 49, 49) == TP_BMM_MAX_GRID &&
                  tp_batched_matmul_grid(7, 37, 11) == 21, "bmm grid 2048x16x16, 2048x49x49, 7x37x11: %d %d %d",
              tp_batched_matmul_grid(2048, 16, 16), tp_batched_matmul_grid(2048, 49, 49), tp_batched_matmul_grid(7, 37, 11));
    TPT_CHECK(tp_batched_matmul_grid(INT64_MAX, INT_MAX, INT_MAX) == TP_BMM_MAX_GRID &&
                  tp_batched_matmul_grid(1, INT_MAX, INT_MAX) == TP_BMM_MAX_GRID, "bmm grid does not overflow");
    TPT_CHECK(tp_layer_norm_chunk_blocks(0) == 0 && tp_layer_norm_chunk_blocks(1) == 1 &&
                  tp_layer_norm_chunk_blocks(TP_LN_CHUNK_LANES) == 1 && tp_layer_norm_chunk_blocks(TP_LN_CHUNK_LANES + 1) == 2 &&
                  tp_layer_norm_chunk_blocks(TP_BIAS_MAX_CHUNKS) == 128, "layer norm chunk blocks");
}

/* Batched transpose: one block per 32x32 tile of every matrix, capped; the same numbers as
 * CudaGeometry.transposeGrid (CudaContractTest). */
static void test_transpose_grid()
{
    TPT_CHECK(tp_transpose_grid(0, 5, 5) == 0 && tp_transpose_grid(3, 0, 5) == 0 && tp_transpose_grid(3, 5, -1) == 0,
              "empty");
    TPT_CHECK(tp_transpose_grid(1, 1, 1) == 1, "one element");
    TPT_CHECK(tp_transpose_grid(1, 32, 32) == 1 && tp_transpose_grid(1, 33, 32) == 2 && tp_transpose_grid(1, 33, 33) == 4,
              "tiles");
    TPT_CHECK(tp_transpose_grid(512, 3, 1024) == 4096 && tp_transpose_grid(100, 3, 1024) == 3200, "CIFAR channels-last");
    TPT_CHECK(tp_transpose_grid(4097, 2, 33) == TP_MAX_TRANSPOSE_GRID, "capped");
    TPT_CHECK(tp_transpose_grid(INT64_MAX, INT64_MAX, INT64_MAX) == TP_MAX_TRANSPOSE_GRID, "no overflow");
    TPT_CHECK(tp_transpose_grid(1, (int64_t)1 << 40, 1) == TP_MAX_TRANSPOSE_GRID, "huge rows");
    bool ok = true;
    for (int64_t b = 1; b < 300; b += 7)
        for (int64_t r = 1; r < 200; r += 13)
            for (int64_t c = 1; c < 200; c += 17) {
                const int64_t want = b * ((r + 31) / 32) * ((c + 31) / 32);
                ok = ok && tp_transpose_grid(b, r, c) == (want < TP_MAX_TRANSPOSE_GRID ? want : TP_MAX_TRANSPOSE_GRID);
            }
    TPT_CHECK(ok, "transpose grid sweep");
}

int main()
{
    test_elementwise_grid();
    test_chunk_table();
    test_model_geometry();
    test_transpose_grid();
    return tpt::finish("test_geometry");
}
