package dev.twophase.backend.cuda;

import java.util.Arrays;

/**
 * The launch geometry of the CUDA kernels and the segmented-norm chunk table, number for number
 * as {@code cuda/twophase.h} and {@code cuda/geometry.h} define them. The JCuda backend launches
 * the kernels itself and must use exactly these grids (the reductions depend on them for their
 * fixed summation order); the FFM backend gets the same numbers inside libtwophase_cuda.so.
 * {@code CudaGeometryTest} checks this class against the values that
 * {@code native-tests/test_geometry.cpp} checks for the C version.
 */
public final class CudaGeometry {
    private CudaGeometry() { }

    /** Threads per block of every kernel (TP_BLOCK). */
    public static final int BLOCK = 256;
    /** Grid cap of the elementwise and multi-dot kernels (TP_MAX_GRID). */
    public static final int MAX_GRID = 1024;
    /** Most y vectors of one multi-dot pass (TP_MAX_DOTS). */
    public static final int MAX_DOTS = 4;
    /** Elements per (tensor, chunk) block of the segmented norm (TP_NORM_CHUNK). */
    public static final int NORM_CHUNK = 32768;
    /** Elements per thread per grid-stride step (one float4, TP_VEC). */
    public static final int VEC = 4;
    /** Rows per block of the row kernels: one warp per row (TP_ROWS_PER_BLOCK). */
    public static final int ROWS_PER_BLOCK = BLOCK / 32;
    /** Grid cap of the row kernels (TP_MAX_ROW_GRID). */
    public static final int MAX_ROW_GRID = 4096;
    /** Bias gradient: columns per block, row lanes per block, rows per chunk, chunk cap. */
    public static final int BIAS_COLS_PER_BLOCK = 32;
    public static final int BIAS_ROW_LANES = BLOCK / BIAS_COLS_PER_BLOCK;
    public static final int BIAS_CHUNK_ROWS = 256;
    public static final int BIAS_MAX_CHUNKS = 1024;
    /** sgemm fallback: output tile edge, k step, grid.y cap. */
    public static final int GEMM_TILE = 64;
    public static final int GEMM_TILE_K = 16;
    public static final int GEMM_MAX_GRID_Y = 65535;
    /** Batched transpose: tile edge, grid cap (TP_TRANSPOSE_TILE, TP_MAX_TRANSPOSE_GRID). */
    public static final int TRANSPOSE_TILE = 32;
    public static final int MAX_TRANSPOSE_GRID = 4096;
    /** Batched matmul of the attention: output tile edge (one output per thread), grid cap. */
    public static final int BMM_TILE = 16;
    public static final int BMM_MAX_GRID = 16384;
    /** Layer norm gamma/beta gradients: row chunks per block (32 columns each). */
    public static final int LN_CHUNK_LANES = BLOCK / BIAS_COLS_PER_BLOCK;

    /** Grid of the elementwise kernels and the first multi-dot pass: min(ceil(n / (BLOCK*VEC)), MAX_GRID), 0 when {@code n <= 0}. */
    public static int elementwiseGrid(long n) {
        if (n <= 0) return 0;
        long perBlock = (long) BLOCK * VEC;
        long blocks = n / perBlock + (n % perBlock != 0 ? 1 : 0);
        return blocks < MAX_GRID ? (int) blocks : MAX_GRID;
    }

    /** Chunks of a tensor of {@code len} elements (0 for an empty tensor). */
    public static long normChunkCount(long len) {
        return len <= 0 ? 0 : len / NORM_CHUNK + (len % NORM_CHUNK != 0 ? 1 : 0);
    }

    /** Grid of the row kernels (softmax cross-entropy), 0 when {@code rows <= 0}. */
    public static int rowGrid(long rows) {
        if (rows <= 0) return 0;
        long blocks = rows / ROWS_PER_BLOCK + (rows % ROWS_PER_BLOCK != 0 ? 1 : 0);
        return blocks < MAX_ROW_GRID ? (int) blocks : MAX_ROW_GRID;
    }

    /** Rows summed by one block of the bias-gradient first pass (a multiple of BIAS_ROW_LANES). */
    public static long biasRowsPerChunk(long rows) {
        long span = (long) BIAS_CHUNK_ROWS * BIAS_MAX_CHUNKS;
        long mult = rows <= span ? 1 : rows / span + (rows % span != 0 ? 1 : 0);
        return (long) BIAS_CHUNK_ROWS * mult;
    }

    /** Row chunks of the bias gradient (grid.y of its first pass), 0 when {@code rows <= 0}. */
    public static int biasChunks(long rows) {
        if (rows <= 0) return 0;
        long per = biasRowsPerChunk(rows);
        return (int) (rows / per + (rows % per != 0 ? 1 : 0));
    }

    /** Grid.x of the bias-gradient first pass. */
    public static int biasColumnBlocks(int cols) {
        return (int) (((long) cols + BIAS_COLS_PER_BLOCK - 1) / BIAS_COLS_PER_BLOCK);
    }

    /** Grid of the bias-gradient second pass (one thread per column). */
    public static int biasFinishGrid(int cols) {
        return (int) (((long) cols + BLOCK - 1) / BLOCK);
    }

    /** sgemm fallback grid.x, over the n columns of C. */
    public static int gemmGridX(int n) {
        return n <= 0 ? 0 : (int) (((long) n + GEMM_TILE - 1) / GEMM_TILE);
    }

    /** sgemm fallback grid.y, over the m rows of C (the kernel loops past the cap). */
    public static int gemmGridY(int m) {
        if (m <= 0) return 0;
        long b = ((long) m + GEMM_TILE - 1) / GEMM_TILE;
        return b < GEMM_MAX_GRID_Y ? (int) b : GEMM_MAX_GRID_Y;
    }

    /** Batched transpose grid: one block per tile of every matrix, at most MAX_TRANSPOSE_GRID; 0 when empty. */
    public static int transposeGrid(long batch, long rows, long cols) {
        if (batch <= 0 || rows <= 0 || cols <= 0) return 0;
        long tilesR = rows / TRANSPOSE_TILE + (rows % TRANSPOSE_TILE != 0 ? 1 : 0);
        long tilesC = cols / TRANSPOSE_TILE + (cols % TRANSPOSE_TILE != 0 ? 1 : 0);
        if (tilesR >= MAX_TRANSPOSE_GRID || tilesC >= MAX_TRANSPOSE_GRID || batch >= MAX_TRANSPOSE_GRID) return MAX_TRANSPOSE_GRID;
        long blocks = batch * tilesR * tilesC;
        return blocks < MAX_TRANSPOSE_GRID ? (int) blocks : MAX_TRANSPOSE_GRID;
    }

    /** Tiles of one m x n matrix of the batched matmul (0 when m or n is not positive). */
    public static long bmmTiles(int m, int n) {
        if (m <= 0 || n <= 0) return 0;
        return (((long) m + BMM_TILE - 1) / BMM_TILE) * (((long) n + BMM_TILE - 1) / BMM_TILE);
    }

    /** Grid of the batched matmul over {@code batches} m x n matrices: min(batches * tiles, BMM_MAX_GRID), 0 when empty. */
    public static int batchedMatmulGrid(long batches, int m, int n) {
        long tiles = bmmTiles(m, n);
        if (batches <= 0 || tiles == 0) return 0;
        if (batches >= BMM_MAX_GRID || tiles >= BMM_MAX_GRID) return BMM_MAX_GRID;
        long items = batches * tiles;
        return items < BMM_MAX_GRID ? (int) items : BMM_MAX_GRID;
    }

    /** Layer norm gamma/beta gradients, pass 1 grid.y: LN_CHUNK_LANES row chunks per block. */
    public static int layerNormChunkBlocks(int chunks) {
        return chunks <= 0 ? 0 : (chunks + LN_CHUNK_LANES - 1) / LN_CHUNK_LANES;
    }

    /**
     * The segmented-norm chunk table of {@code tp_build_norm_chunk_table}: tensor t spans
     * {@code [offsets[t], offsets[t+1])} and owns ceil(len / NORM_CHUNK) chunks, numbered tensor
     * by tensor; {@code tensorFirstChunk[t]} is its first chunk, {@code tensorFirstChunk[tensors]}
     * the chunk count.
     */
    public record NormChunkTable(long[] chunkStart, long[] chunkEnd, int[] tensorFirstChunk) {
        public int chunks() { return chunkStart.length; }

        public int tensors() { return tensorFirstChunk.length - 1; }

        @Override public boolean equals(Object o) {
            return o instanceof NormChunkTable t && Arrays.equals(chunkStart, t.chunkStart)
                    && Arrays.equals(chunkEnd, t.chunkEnd) && Arrays.equals(tensorFirstChunk, t.tensorFirstChunk);
        }

        @Override public int hashCode() {
            return Arrays.hashCode(chunkStart) * 31 + Arrays.hashCode(tensorFirstChunk);
        }

        @Override public String toString() {
            return "NormChunkTable[" + chunks() + " chunks, first " + Arrays.toString(tensorFirstChunk) + "]";
        }
    }

    /**
     * Validates {@code offsets} (ntensors + 1 entries, offsets[0] == 0, non-decreasing, at most
     * Integer.MAX_VALUE chunks) and builds the chunk table, as the C function does.
     *
     * @throws IllegalArgumentException where the C version returns TP_ERR_INVALID_VALUE
     */
    public static NormChunkTable normChunkTable(long[] offsets) {
        if (offsets == null || offsets.length < 1) throw new IllegalArgumentException("norm offsets: need at least one entry");
        if (offsets[0] != 0) throw new IllegalArgumentException("norm offsets: offsets[0] = " + offsets[0] + ", expected 0");
        int tensors = offsets.length - 1;
        long total = 0;
        for (int t = 0; t < tensors; t++) {
            if (offsets[t + 1] < offsets[t]) {
                throw new IllegalArgumentException("norm offsets decrease at tensor " + t + ": " + offsets[t] + " > " + offsets[t + 1]);
            }
            total += normChunkCount(offsets[t + 1] - offsets[t]);
            if (total > Integer.MAX_VALUE) throw new IllegalArgumentException("norm offsets: more than " + Integer.MAX_VALUE + " chunks");
        }
        long[] start = new long[(int) total], end = new long[(int) total];
        int[] first = new int[tensors + 1];
        int c = 0;
        for (int t = 0; t < tensors; t++) {
            first[t] = c;
            for (long s = offsets[t]; s < offsets[t + 1]; s += NORM_CHUNK, c++) {
                start[c] = s;
                end[c] = offsets[t + 1] - s > NORM_CHUNK ? s + NORM_CHUNK : offsets[t + 1];
            }
        }
        first[tensors] = c;
        return new NormChunkTable(start, end, first);
    }
}
