/*
 * twophase: host-side launch geometry and the segmented-norm chunk table.
 *
 * Plain host C/C++ (no CUDA headers), so that the native CPU tests can check it
 * without a GPU and so that the JCuda backend can mirror it number for number:
 *
 *   elementwise and multi-dot grid = min(ceil(n / (TP_BLOCK * 4)), TP_MAX_GRID), 0 when n <= 0
 *   block                          = TP_BLOCK for every kernel (the reductions require it)
 *
 *   norm chunk table, for offsets[0..ntensors] (offsets[0] == 0, non-decreasing):
 *     tensor t spans [offsets[t], offsets[t+1]) and owns ceil(len_t / TP_NORM_CHUNK) chunks
 *     (an empty tensor owns none); chunk c of tensor t is the element range
 *     [offsets[t] + c*TP_NORM_CHUNK, min(offsets[t] + (c+1)*TP_NORM_CHUNK, offsets[t+1])).
 *     Chunks are numbered tensor by tensor; tensor_first_chunk[t] is the number of the
 *     first chunk of tensor t and tensor_first_chunk[ntensors] the total chunk count.
 *
 *   model ops (layers.cu, gemm.cu):
 *     row kernels (softmax cross-entropy): one warp per row, TP_ROWS_PER_BLOCK rows per block,
 *       grid = min(ceil(rows / TP_ROWS_PER_BLOCK), TP_MAX_ROW_GRID), 0 when rows <= 0
 *     bias gradient: rows_per_chunk = TP_BIAS_CHUNK_ROWS * ceil(rows / (TP_BIAS_CHUNK_ROWS *
 *       TP_BIAS_MAX_CHUNKS)) (a multiple of TP_BIAS_ROW_LANES), chunks = ceil(rows /
 *       rows_per_chunk) <= TP_BIAS_MAX_CHUNKS; pass 1 grid = (ceil(cols / 32), chunks),
 *       pass 2 grid = ceil(cols / TP_BLOCK); partials: chunks * cols doubles
 *   All grid arithmetic is 64-bit: cols + 31 overflows an int for cols near 2^31.
 *     sgemm fallback: grid = (ceil(n / TP_GEMM_TILE), min(ceil(m / TP_GEMM_TILE), TP_GEMM_MAX_GRID_Y))
 *
 *   conv ops (conv.cu): im2col, col2im, max pool and its backward use tp_elementwise_grid of
 *     the elements they write; batched transpose: one block per TP_TRANSPOSE_TILE^2 tile,
 *     grid = min(batch * ceil(rows / 32) * ceil(cols / 32), TP_MAX_TRANSPOSE_GRID), 0 when empty
 *
 *   attention and layer norm (attention.cu, layernorm.cu):
 *     batched matmul: work items = batches * ceil(m / TP_BMM_TILE) * ceil(n / TP_BMM_TILE) (one
 *       TP_BMM_TILE x TP_BMM_TILE tile of one matrix each), grid = min(items, TP_BMM_MAX_GRID),
 *       0 when there are none; blocks loop over the items (grid-stride)
 *     attention softmax rows, layer norm rows: the row grid above (one warp per row)
 *     layer norm gamma/beta gradients: the bias gradient's row chunks; pass 1 grid =
 *       (ceil(dim / 32), ceil(chunks / TP_LN_CHUNK_LANES)), then the bias gradient's pass 2 once
 *       for gamma and once for beta; partials: 2 * chunks * dim doubles (+ 2 * rows row statistics)
 *     token mean forward / backward: the elementwise grid of batch * dim / batch * tokens * dim
 */
#ifndef TWOPHASE_GEOMETRY_H
#define TWOPHASE_GEOMETRY_H

#include <stddef.h>
#include <stdint.h>

#include "twophase.h"

/* Error code for invalid arguments: the same number as cudaErrorInvalidValue. */
#define TP_ERR_INVALID_VALUE 1
/* Elements per thread per grid-stride iteration (one float4). */
#define TP_VEC 4
/* Norm cleanup: tensors with at most this many chunks are summed by one thread, larger
 * ones by a warp (32 lanes) and a fixed shuffle tree. */
#define TP_NORM_SMALL_CHUNKS 32

/* Row kernels: one warp per row. */
#define TP_ROWS_PER_BLOCK (TP_BLOCK / 32)
#define TP_MAX_ROW_GRID 4096
/* Bias gradient: a block is 32 columns x TP_BIAS_ROW_LANES row lanes. */
#define TP_BIAS_COLS_PER_BLOCK 32
#define TP_BIAS_ROW_LANES (TP_BLOCK / TP_BIAS_COLS_PER_BLOCK)
#define TP_BIAS_CHUNK_ROWS 256
#define TP_BIAS_MAX_CHUNKS 1024
/* sgemm fallback: TP_GEMM_TILE x TP_GEMM_TILE outputs per block, k in steps of TP_GEMM_TILE_K. */
#define TP_GEMM_TILE 64
#define TP_GEMM_TILE_K 16
#define TP_GEMM_MAX_GRID_Y 65535
/* Batched transpose: square tiles of this edge, at most this many blocks (tiles in grid-stride order). */
#define TP_TRANSPOSE_TILE 32
#define TP_MAX_TRANSPOSE_GRID 4096
/* Batched matmul of the attention: TP_BMM_TILE x TP_BMM_TILE outputs per block, one per thread. */
#define TP_BMM_TILE 16
#define TP_BMM_MAX_GRID 16384
/* Layer norm gamma/beta gradients: a block is 32 columns x TP_LN_CHUNK_LANES row chunks. */
#define TP_LN_CHUNK_LANES (TP_BLOCK / TP_BIAS_COLS_PER_BLOCK)

#ifdef __cplusplus
#include <limits.h>
#include <vector>

/* Grid for the elementwise kernels and the first multi-dot pass; depends only on n. */
static inline int tp_elementwise_grid(int64_t n)
{
    if (n <= 0) return 0;
    const int64_t per_block = (int64_t)TP_BLOCK * TP_VEC;
    const int64_t blocks = n / per_block + (n % per_block != 0 ? 1 : 0);
    return blocks < TP_MAX_GRID ? (int)blocks : TP_MAX_GRID;
}

/* Grid of the row kernels (one warp per row, grid-stride over rows). */
static inline int tp_row_grid(int64_t rows)
{
    if (rows <= 0) return 0;
    const int64_t blocks = rows / TP_ROWS_PER_BLOCK + (rows % TP_ROWS_PER_BLOCK != 0 ? 1 : 0);
    return blocks < TP_MAX_ROW_GRID ? (int)blocks : TP_MAX_ROW_GRID;
}

/* Rows summed by one block of the bias-gradient first pass. */
static inline int64_t tp_bias_rows_per_chunk(int64_t rows)
{
    const int64_t span = (int64_t)TP_BIAS_CHUNK_ROWS * TP_BIAS_MAX_CHUNKS;
    const int64_t mult = rows <= span ? 1 : rows / span + (rows % span != 0 ? 1 : 0);
    return (int64_t)TP_BIAS_CHUNK_ROWS * mult;
}

/* Row chunks of the bias gradient (grid.y of the first pass); 0 when rows <= 0. */
static inline int tp_bias_chunks(int64_t rows)
{
    if (rows <= 0) return 0;
    const int64_t per = tp_bias_rows_per_chunk(rows);
    return (int)(rows / per + (rows % per != 0 ? 1 : 0));
}

/* Bias gradient, pass 1 grid.x: blocks of TP_BIAS_COLS_PER_BLOCK columns. */
static inline int tp_bias_column_blocks(int cols)
{
    return cols <= 0 ? 0 : (int)(((int64_t)cols + TP_BIAS_COLS_PER_BLOCK - 1) / TP_BIAS_COLS_PER_BLOCK);
}

/* Bias gradient, pass 2 grid: one thread per column. */
static inline int tp_bias_finish_grid(int cols)
{
    return cols <= 0 ? 0 : (int)(((int64_t)cols + TP_BLOCK - 1) / TP_BLOCK);
}

/* sgemm fallback grid: x over the n columns of C, y over the m rows (grid-stride beyond the cap). */
static inline int tp_gemm_grid_x(int n)
{
    return n <= 0 ? 0 : (int)(((int64_t)n + TP_GEMM_TILE - 1) / TP_GEMM_TILE);
}
static inline int tp_gemm_grid_y(int m)
{
    if (m <= 0) return 0;
    const int64_t b = ((int64_t)m + TP_GEMM_TILE - 1) / TP_GEMM_TILE;
    return b < TP_GEMM_MAX_GRID_Y ? (int)b : TP_GEMM_MAX_GRID_Y;
}

/* Batched transpose grid: one block per tile of batch matrices of rows x cols, capped; 0 when empty. */
static inline int tp_transpose_grid(int64_t batch, int64_t rows, int64_t cols)
{
    if (batch <= 0 || rows <= 0 || cols <= 0) return 0;
    const int64_t tiles_r = rows / TP_TRANSPOSE_TILE + (rows % TP_TRANSPOSE_TILE != 0 ? 1 : 0);
    const int64_t tiles_c = cols / TP_TRANSPOSE_TILE + (cols % TP_TRANSPOSE_TILE != 0 ? 1 : 0);
    /* each factor below the cap first, so that the product cannot overflow */
    if (tiles_r >= TP_MAX_TRANSPOSE_GRID || tiles_c >= TP_MAX_TRANSPOSE_GRID || batch >= TP_MAX_TRANSPOSE_GRID)
        return TP_MAX_TRANSPOSE_GRID;
    const int64_t blocks = batch * tiles_r * tiles_c;
    return blocks < TP_MAX_TRANSPOSE_GRID ? (int)blocks : TP_MAX_TRANSPOSE_GRID;
}

/* Tiles of one m x n matrix of the batched matmul (0 when m or n <= 0). */
static inline int64_t tp_bmm_tiles(int m, int n)
{
    if (m <= 0 || n <= 0) return 0;
    return (((int64_t)m + TP_BMM_TILE - 1) / TP_BMM_TILE) * (((int64_t)n + TP_BMM_TILE - 1) / TP_BMM_TILE);
}

/* Grid of the batched matmul over `batches` matrices of m x n outputs (capped; blocks loop). */
static inline int tp_batched_matmul_grid(int64_t batches, int m, int n)
{
    const int64_t tiles = tp_bmm_tiles(m, n);
    if (batches <= 0 || tiles == 0) return 0;
    if (batches >= TP_BMM_MAX_GRID || tiles >= TP_BMM_MAX_GRID) return TP_BMM_MAX_GRID; /* no overflow below */
    const int64_t items = batches * tiles;
    return items < TP_BMM_MAX_GRID ? (int)items : TP_BMM_MAX_GRID;
}

/* Layer norm gamma/beta gradients, pass 1 grid.y: TP_LN_CHUNK_LANES row chunks per block. */
static inline int tp_layer_norm_chunk_blocks(int nchunks)
{
    return nchunks <= 0 ? 0 : (nchunks + TP_LN_CHUNK_LANES - 1) / TP_LN_CHUNK_LANES;
}

/* Number of chunks of a tensor of len elements (0 for an empty tensor). */
static inline int64_t tp_norm_chunk_count(int64_t len)
{
    return len <= 0 ? 0 : len / TP_NORM_CHUNK + (len % TP_NORM_CHUNK != 0 ? 1 : 0);
}

struct TpNormChunkTable {
    std::vector<long long> chunk_start;    /* nchunks, first element of each chunk  */
    std::vector<long long> chunk_end;      /* nchunks, one past its last element    */
    std::vector<int> tensor_first_chunk;   /* ntensors + 1                          */
    int nchunks() const { return (int)chunk_start.size(); }
};

/* Validates offsets and builds the chunk table. Returns 0 or TP_ERR_INVALID_VALUE
 * (ntensors < 0, offsets NULL, offsets[0] != 0, decreasing offsets, or more chunks than
 * a grid dimension / an int can count). */
static inline int tp_build_norm_chunk_table(const int64_t *offsets, int ntensors,
                                            TpNormChunkTable *table)
{
    if (table == nullptr || ntensors < 0 || offsets == nullptr) return TP_ERR_INVALID_VALUE;
    if (offsets[0] != 0) return TP_ERR_INVALID_VALUE;
    int64_t total_chunks = 0;
    for (int t = 0; t < ntensors; ++t) {
        if (offsets[t + 1] < offsets[t]) return TP_ERR_INVALID_VALUE;
        total_chunks += tp_norm_chunk_count(offsets[t + 1] - offsets[t]);
        if (total_chunks > (int64_t)INT_MAX) return TP_ERR_INVALID_VALUE;
    }
    table->chunk_start.resize((size_t)total_chunks);
    table->chunk_end.resize((size_t)total_chunks);
    table->tensor_first_chunk.resize((size_t)ntensors + 1);
    int64_t c = 0;
    for (int t = 0; t < ntensors; ++t) {
        table->tensor_first_chunk[(size_t)t] = (int)c;
        for (int64_t s = offsets[t]; s < offsets[t + 1]; s += TP_NORM_CHUNK, ++c) {
            const int64_t e = offsets[t + 1] - s > TP_NORM_CHUNK ? s + TP_NORM_CHUNK : offsets[t + 1];
            table->chunk_start[(size_t)c] = (long long)s;
            table->chunk_end[(size_t)c] = (long long)e;
        }
    }
    table->tensor_first_chunk[(size_t)ntensors] = (int)c;
    return 0;
}
#endif /* __cplusplus */

#endif /* TWOPHASE_GEOMETRY_H */
