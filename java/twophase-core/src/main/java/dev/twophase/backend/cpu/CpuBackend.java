package dev.twophase.backend.cpu;

import dev.twophase.backend.Activation;
import dev.twophase.backend.AdamScalars;
import dev.twophase.backend.Backend;
import dev.twophase.backend.Buffer;
import static dev.twophase.backend.BufferChecks.*;
import dev.twophase.backend.GradientNorms;
import dev.twophase.backend.HostKernels;

/**
 * The CPU backend: Java float arrays, loops over fixed chunks on a private thread pool (see
 * {@link Parallel}), SGEMM through OpenBLAS (FFM) or a plain Java fallback. Always available.
 */
public final class CpuBackend implements Backend {
    private final Parallel par;
    private final OpenBlas blas;
    private final String gemmDescription;

    /** A CPU backend with {@code threads} worker threads, using OpenBLAS when it loads. */
    public CpuBackend(int threads) {
        this(threads, true);
    }

    /** A CPU backend; {@code useOpenBlas = false} forces the plain Java GEMM. */
    public CpuBackend(int threads, boolean useOpenBlas) {
        this.par = new Parallel(threads);
        OpenBlas loaded = null;
        String gemm;
        if (useOpenBlas) {
            try {
                loaded = OpenBlas.load();
                // One buffer per thread that can call sgemm at once: the workers and the caller.
                String notPrefaulted = loaded.prefault(threads);
                gemm = "OpenBLAS " + loaded.version() + " via FFM" + (notPrefaulted == null ? "" : " (slower: " + notPrefaulted + ")");
            } catch (ReflectiveOperationException | RuntimeException | LinkageError e) {
                loaded = null;
                gemm = "plain Java (OpenBLAS unavailable: " + e + ")";
            }
        } else {
            gemm = "plain Java (OpenBLAS disabled)";
        }
        this.blas = loaded;
        this.gemmDescription = gemm;
    }

    @Override public String name() { return "cpu"; }

    @Override public String description() {
        return "cpu: " + par.threads() + " threads, GEMM: " + gemmDescription;
    }

    public int threads() { return par.threads(); }

    public boolean usesOpenBlas() { return blas != null; }

    // ---- memory ----

    @Override public Buffer allocate(long length) {
        if (length < 0 || length > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("cpu buffers hold at most " + (Integer.MAX_VALUE - 8) + " floats; asked for " + length);
        }
        return new CpuBuffer(this, new float[(int) length], 0, (int) length);
    }

    @Override public void upload(float[] src, int srcOffset, Buffer dst) {
        CpuBuffer d = own(dst);
        System.arraycopy(src, srcOffset, d.array, d.offset, d.length);
    }

    @Override public void download(Buffer src, float[] dst, int dstOffset) {
        CpuBuffer s = own(src);
        System.arraycopy(s.array, s.offset, dst, dstOffset, s.length);
    }

    @Override public void copy(Buffer src, Buffer dst) {
        CpuBuffer s = own(src), d = own(dst);
        sameLength("copy", s, d);
        System.arraycopy(s.array, s.offset, d.array, d.offset, s.length);
    }

    @Override public void fill(Buffer dst, float value) {
        CpuBuffer d = own(dst);
        java.util.Arrays.fill(d.array, d.offset, d.offset + d.length, value);
    }

    // ---- optimizer vector ops ----

    @Override public void adamStep(AdamScalars s, Buffer param, Buffer grad, Buffer expAvg, Buffer expAvgSq) {
        CpuBuffer p = own(param), g = own(grad), m = own(expAvg), v = own(expAvgSq);
        sameLength("adamStep", p, g, m, v);
        if (!sameOffset(p, g, m, v)) {
            CpuBuffer[] c = alignedCopies(p, g, m, v);
            adamStep(s, c[0], c[1], c[2], c[3]);
            copyBack(c, p, null, m, v);
            return;
        }
        final float beta1 = s.beta1(), beta2 = s.beta2(), oneMinusBeta1 = s.oneMinusBeta1(), oneMinusBeta2 = s.oneMinusBeta2();
        final float stepSize = s.stepSize(), bc2Sqrt = s.biasCorrection2Sqrt(), eps = s.eps();
        final float l2 = s.l2WeightDecay(), decay = s.decayFactor(), gradScale = s.gradScale();
        final float[] pa = p.array, ga = g.array, ma = m.array, va = v.array;
        final int o = p.offset;
        par.forEachChunk(p.length, (chunk, lo, hi) -> {
            for (int i = o + lo, end = o + hi; i < end; i++) {
                float pi = pa[i];
                float gi = ga[i] * gradScale + l2 * pi;
                pi = pi * decay;
                float mi = beta1 * ma[i] + oneMinusBeta1 * gi;
                float vi = beta2 * va[i] + oneMinusBeta2 * gi * gi;
                ma[i] = mi;
                va[i] = vi;
                pa[i] = pi - stepSize * mi / ((float) Math.sqrt(vi) / bc2Sqrt + eps);
            }
        });
    }

    @Override public void multiDot(Buffer x, Buffer[] ys, double[] out) {
        CpuBuffer xb = own(x);
        int k = ys.length;
        if (out.length < k) throw new IllegalArgumentException("multiDot: out has " + out.length + " slots for " + k + " dots");
        CpuBuffer[] yb = new CpuBuffer[k];
        for (int j = 0; j < k; j++) {
            yb[j] = own(ys[j]);
            sameLength("multiDot", xb, yb[j]);
        }
        int chunks = Parallel.chunkCount(xb.length);
        double[] partial = new double[chunks * k];
        par.forEachChunk(xb.length, (chunk, lo, hi) -> {
            for (int j = 0; j < k; j++) partial[chunk * k + j] = dot(xb.array, xb.offset, yb[j].array, yb[j].offset, lo, hi);
        });
        for (int j = 0; j < k; j++) {
            double s = 0;
            for (int c = 0; c < chunks; c++) s += partial[c * k + j];
            out[j] = s;
        }
    }

    /** Dot product of a chunk in double, with four interleaved accumulators so the adds pipeline. */
    private static double dot(float[] x, int xo, float[] y, int yo, int lo, int hi) {
        double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        int i = lo;
        for (; i + 3 < hi; i += 4) {
            s0 += (double) x[xo + i] * y[yo + i];
            s1 += (double) x[xo + i + 1] * y[yo + i + 1];
            s2 += (double) x[xo + i + 2] * y[yo + i + 2];
            s3 += (double) x[xo + i + 3] * y[yo + i + 3];
        }
        for (; i < hi; i++) s0 += (double) x[xo + i] * y[yo + i];
        return (s0 + s1) + (s2 + s3);
    }

    @Override public void cgDirection(Buffer d, Buffer g, Buffer gPrev, double beta) {
        CpuBuffer db = own(d), gb = own(g), pb = own(gPrev);
        sameLength("cgDirection", db, gb, pb);
        if (!sameOffset(db, gb, pb)) {
            CpuBuffer[] c = alignedCopies(db, gb, pb);
            cgDirection(c[0], c[1], c[2], beta);
            copyBack(c, db, null, pb);
            return;
        }
        final float b = (float) beta;
        final float[] da = db.array, ga = gb.array, pa = pb.array;
        final int o = db.offset;
        par.forEachChunk(db.length, (chunk, lo, hi) -> {
            for (int i = o + lo, end = o + hi; i < end; i++) {
                float gi = ga[i];
                da[i] = -gi + b * da[i];
                pa[i] = gi;
            }
        });
    }

    @Override public void trialPoint(Buffer x, Buffer x0, Buffer d, double alpha) {
        CpuBuffer xb = own(x), x0b = own(x0), db = own(d);
        sameLength("trialPoint", xb, x0b, db);
        if (!sameOffset(xb, x0b, db)) {
            CpuBuffer[] c = alignedCopies(xb, x0b, db);
            trialPoint(c[0], c[1], c[2], alpha);
            copyBack(c, xb);
            return;
        }
        final float a = (float) alpha;
        final float[] xa = xb.array, x0a = x0b.array, da = db.array;
        final int o = xb.offset;
        par.forEachChunk(xb.length, (chunk, lo, hi) -> {
            for (int i = o + lo, end = o + hi; i < end; i++) xa[i] = x0a[i] + a * da[i];
        });
    }

    @Override public void axpy(float a, Buffer x, Buffer y) {
        CpuBuffer xb = own(x), yb = own(y);
        sameLength("axpy", xb, yb);
        final float[] xa = xb.array, ya = yb.array;
        final int xOff = xb.offset, yOff = yb.offset;
        par.forEachChunk(xb.length, (chunk, lo, hi) -> {
            for (int i = lo; i < hi; i++) ya[yOff + i] += a * xa[xOff + i];
        });
    }

    @Override public GradientNorms segmentedNorms(Buffer g, long[] offsets) {
        CpuBuffer gb = own(g);
        int tensors = offsets.length - 1;
        checkSegments(offsets, gb.length);
        // One work item per (tensor, chunk) so the chunk partials, and their sums, do not depend on threads.
        int[] firstChunk = new int[tensors + 1];
        for (int t = 0; t < tensors; t++) {
            long len = offsets[t + 1] - offsets[t];
            firstChunk[t + 1] = firstChunk[t] + Parallel.chunkCount((int) len);
        }
        int chunks = firstChunk[tensors];
        int[] chunkTensor = new int[chunks];
        for (int t = 0; t < tensors; t++) java.util.Arrays.fill(chunkTensor, firstChunk[t], firstChunk[t + 1], t);
        double[] partial = new double[chunks];
        final float[] a = gb.array;
        par.forEachIndex(chunks, c -> {
            int t = chunkTensor[c];
            long lo = offsets[t] + (long) (c - firstChunk[t]) * Parallel.CHUNK;
            long hi = Math.min(offsets[t + 1], lo + Parallel.CHUNK);
            partial[c] = dot(a, gb.offset, a, gb.offset, (int) lo, (int) hi);
        });
        double[] perTensor = new double[tensors];
        double total = 0;
        for (int t = 0; t < tensors; t++) {
            double s = 0;
            for (int c = firstChunk[t]; c < firstChunk[t + 1]; c++) s += partial[c];
            perTensor[t] = s;
            total += s;
        }
        // Squares of finite floats cannot overflow a double, so a non-finite sum means a NaN or Inf element.
        return new GradientNorms(perTensor, total, !Double.isFinite(total));
    }

    // ---- model ops ----

    @Override public void gemm(boolean transA, boolean transB, int m, int n, int k, float alpha, Buffer a, int lda,
                               Buffer b, int ldb, float beta, Buffer c, int ldc) {
        CpuBuffer ab = own(a), bb = own(b), cb = own(c);
        checkMatrix("gemm A", ab, transA ? k : m, transA ? m : k, lda);
        checkMatrix("gemm B", bb, transB ? n : k, transB ? k : n, ldb);
        checkMatrix("gemm C", cb, m, n, ldc);
        if (m == 0 || n == 0) return;
        if (blas == null) {
            JavaGemm.sgemm(par, transA, transB, m, n, k, alpha, ab, lda, bb, ldb, beta, cb, ldc);
        } else if ((long) m * n * k < GEMM_SPLIT_MIN_MACS) {
            blas.sgemm(transA, transB, m, n, k, alpha, ab, lda, bb, ldb, beta, cb, ldc);
        } else if (k >= REDUCTION_SPLIT_MIN_K && k >= REDUCTION_SPLIT_RATIO * Math.max(m, n) && (long) m * n <= REDUCTION_SPLIT_MAX_C) {
            gemmSplitReduction(transA, transB, m, n, k, alpha, ab, lda, bb, ldb, beta, cb, ldc);
        } else if (m >= n) {
            // Blocks of rows of C: rows of op(A) and C; op(B) whole.
            int rows = gemmBlock(m), blocks = (m + rows - 1) / rows;
            par.forEachIndex(blocks, i -> {
                int r0 = i * rows, r = Math.min(rows, m - r0);
                CpuBuffer aRows = slice(ab, transA ? r0 : (long) r0 * lda), cRows = slice(cb, (long) r0 * ldc);
                blas.sgemm(transA, transB, r, n, k, alpha, aRows, lda, bb, ldb, beta, cRows, ldc);
            });
        } else {
            // Blocks of columns of C: columns of op(B) and C; op(A) whole.
            int cols = gemmBlock(n), blocks = (n + cols - 1) / cols;
            par.forEachIndex(blocks, i -> {
                int c0 = i * cols, width = Math.min(cols, n - c0);
                CpuBuffer bCols = slice(bb, transB ? (long) c0 * ldb : c0), cCols = slice(cb, c0);
                blas.sgemm(transA, transB, m, width, k, alpha, ab, lda, bCols, ldb, beta, cCols, ldc);
            });
        }
    }

    /**
     * A small C over a long reduction (weight gradients: 64x288 summed over 100,352 patches) has
     * too few rows and columns to share out, so the reduction is cut into fixed slices: one
     * sgemm per slice into its own partial C, then the partials are added in slice order. Slices
     * depend on k alone, so the sum's rounding is the same for any thread count.
     */
    private void gemmSplitReduction(boolean transA, boolean transB, int m, int n, int k, float alpha, CpuBuffer a, int lda,
                                    CpuBuffer b, int ldb, float beta, CpuBuffer c, int ldc) {
        int depth = reductionSlice(k), slices = (k + depth - 1) / depth, size = m * n;
        float[] partial = new float[slices * size];
        par.forEachIndex(slices, i -> {
            int p0 = i * depth, kk = Math.min(depth, k - p0);
            CpuBuffer aSlice = slice(a, transA ? (long) p0 * lda : p0), bSlice = slice(b, transB ? p0 : (long) p0 * ldb);
            blas.sgemm(transA, transB, m, n, kk, 1f, aSlice, lda, bSlice, ldb, 0f, new CpuBuffer(this, partial, i * size, size), n);
        });
        float[] ca = c.array;
        par.forEachIndex(m, r -> {
            int row = c.offset + r * ldc;
            for (int j = 0; j < n; j++) {
                float sum = partial[r * n + j];
                for (int i = 1; i < slices; i++) sum += partial[i * size + r * n + j];
                // beta = 0 must not read C (BLAS semantics: NaN or garbage there is overwritten).
                ca[row + j] = beta == 0f ? alpha * sum : alpha * sum + beta * ca[row + j];
            }
        });
    }

    /**
     * Reductions at least this long, and this many times longer than C's larger side, are split
     * when C has at most this many elements (the partials take up to 8 times C).
     */
    private static final int REDUCTION_SPLIT_MIN_K = 4096, REDUCTION_SPLIT_RATIO = 8, REDUCTION_SPLIT_MAX_C = 1 << 20;

    /** Reduction slice: at most 8 slices, none under 2048 terms (a function of k alone). */
    private static int reductionSlice(int k) { return Math.max(2048, (k + 7) / 8); }

    /**
     * Products with fewer multiply-adds run as one call: splitting them costs more in dispatch
     * and repacking than the second thread gains (512x10x128: 0.072 ms whole, 0.094 ms in 4
     * blocks on 2 threads).
     */
    private static final long GEMM_SPLIT_MIN_MACS = 2L << 20;

    /**
     * GEMM block edge: a function of the dimension alone (never of the thread count): at most 8
     * blocks, none under 128 rows or columns, so each block amortizes OpenBLAS's packing of the
     * shared operand.
     */
    private static int gemmBlock(int dim) { return Math.max(128, (dim + 7) / 8); }

    /** The tail of a buffer from {@code offset}: OpenBLAS reads only what the leading dimensions reach. */
    private static CpuBuffer slice(CpuBuffer b, long offset) { return (CpuBuffer) b.slice(offset, b.length - offset); }

    /** The plain Java GEMM regardless of OpenBLAS: the reference for tests. */
    void javaGemm(boolean transA, boolean transB, int m, int n, int k, float alpha, Buffer a, int lda,
                  Buffer b, int ldb, float beta, Buffer c, int ldc) {
        JavaGemm.sgemm(par, transA, transB, m, n, k, alpha, own(a), lda, own(b), ldb, beta, own(c), ldc);
    }

    @Override public void addBias(Buffer y, Buffer bias) {
        CpuBuffer yb = own(y), bb = own(bias);
        int cols = bb.length, rows = (int) rowsOf("addBias", yb, cols);
        par.forEachIndex(rowBlocks(rows, cols), blk -> {
            int r0 = blk * rowsPerBlock(cols), r1 = Math.min(rows, r0 + rowsPerBlock(cols));
            for (int r = r0; r < r1; r++) {
                int base = yb.offset + r * cols;
                for (int c = 0; c < cols; c++) yb.array[base + c] += bb.array[bb.offset + c];
            }
        });
    }

    @Override public void accumulateBiasGradient(Buffer dy, Buffer dBias) {
        CpuBuffer yb = own(dy), db = own(dBias);
        int cols = db.length, rows = (int) rowsOf("accumulateBiasGradient", yb, cols);
        double[] acc = new double[cols];
        for (int r = 0; r < rows; r++) {
            int base = yb.offset + r * cols;
            for (int c = 0; c < cols; c++) acc[c] += yb.array[base + c];
        }
        for (int c = 0; c < cols; c++) db.array[db.offset + c] += (float) acc[c];
    }

    @Override public void activation(Activation f, Buffer x, Buffer y) {
        CpuBuffer xb = own(x), yb = own(y);
        sameLength("activation", xb, yb);
        if (!sameOffset(xb, yb)) {
            CpuBuffer[] c = alignedCopies(xb, yb);
            activation(f, c[0], c[1]);
            copyBack(c, null, yb);
            return;
        }
        final float[] xa = xb.array, ya = yb.array;
        final int o = xb.offset;
        par.forEachChunk(xb.length, (chunk, lo, hi) -> {
            int from = o + lo, to = o + hi;
            switch (f) {
                case IDENTITY -> System.arraycopy(xa, from, ya, from, to - from);
                case RELU -> { for (int i = from; i < to; i++) ya[i] = Math.max(xa[i], 0f); }
                default -> { for (int i = from; i < to; i++) ya[i] = f.apply(xa[i]); }
            }
        });
    }

    @Override public void activationBackward(Activation f, Buffer x, Buffer y, Buffer dy, Buffer dx) {
        CpuBuffer xb = own(x), yb = own(y), gyb = own(dy), gxb = own(dx);
        sameLength("activationBackward", xb, yb, gyb, gxb);
        if (!sameOffset(xb, yb, gyb, gxb)) {
            CpuBuffer[] c = alignedCopies(xb, yb, gyb, gxb);
            activationBackward(f, c[0], c[1], c[2], c[3]);
            copyBack(c, null, null, null, gxb);
            return;
        }
        final float[] xa = xb.array, ya = yb.array, gy = gyb.array, gx = gxb.array;
        final int o = xb.offset;
        par.forEachChunk(xb.length, (chunk, lo, hi) -> {
            int from = o + lo, to = o + hi;
            switch (f) {
                case IDENTITY -> System.arraycopy(gy, from, gx, from, to - from);
                // gy where x > 0, else +0, as a bit mask: a float select compiles to a branch
                // on x86, mispredicted on half of the random signs (7.7 vs 1.2 ns per element).
                // The mask is all ones exactly when x's bits lie in (0, +Inf]: positive, not NaN.
                case RELU -> {
                    for (int i = from; i < to; i++) {
                        int bits = Float.floatToRawIntBits(xa[i]), positive = ((-bits) & (bits - 0x7f800001)) >> 31;
                        gx[i] = Float.intBitsToFloat(Float.floatToRawIntBits(gy[i]) & positive);
                    }
                }
                case TANH -> { for (int i = from; i < to; i++) { float t = ya[i]; gx[i] = gy[i] * (1f - t * t); } }
                default -> { for (int i = from; i < to; i++) gx[i] = gy[i] * f.derivative(xa[i], ya[i]); }
            }
        });
    }

    @Override public double squaredError(Buffer out, Buffer target, float gradScale, Buffer dOut) {
        CpuBuffer ob = own(out), tb = own(target);
        sameLength("squaredError", ob, tb);
        CpuBuffer gb = dOut == null ? null : own(dOut);
        if (gb != null) sameLength("squaredError", ob, gb);
        double[] partial = new double[Parallel.chunkCount(ob.length)];
        final float twoScale = 2f * gradScale;
        par.forEachChunk(ob.length, (chunk, lo, hi) -> {
            double s = 0;
            for (int i = lo; i < hi; i++) {
                float diff = ob.array[ob.offset + i] - tb.array[tb.offset + i];
                s += (double) diff * diff;
                if (gb != null) gb.array[gb.offset + i] = twoScale * diff;
            }
            partial[chunk] = s;
        });
        double s = 0;
        for (double p : partial) s += p;
        return s;
    }

    @Override public double softmaxCrossEntropy(Buffer logits, Buffer target, int cols, float gradScale, Buffer dOut) {
        CpuBuffer lb = own(logits), tb = own(target);
        sameLength("softmaxCrossEntropy", lb, tb);
        CpuBuffer gb = dOut == null ? null : own(dOut);
        if (gb != null) sameLength("softmaxCrossEntropy", lb, gb);
        int rows = (int) rowsOf("softmaxCrossEntropy", lb, cols);
        double[] perRow = new double[rows];
        par.forEachIndex(rowBlocks(rows, cols), blk -> {
            int r0 = blk * rowsPerBlock(cols), r1 = Math.min(rows, r0 + rowsPerBlock(cols));
            for (int r = r0; r < r1; r++) {
                int lo = lb.offset + r * cols, to = tb.offset + r * cols;
                float max = Float.NEGATIVE_INFINITY;
                for (int c = 0; c < cols; c++) max = Math.max(max, lb.array[lo + c]);
                double sum = 0;
                for (int c = 0; c < cols; c++) sum += Math.exp(lb.array[lo + c] - max);
                double logSum = Math.log(sum) + max, loss = 0;
                for (int c = 0; c < cols; c++) {
                    double logP = lb.array[lo + c] - logSum;
                    float t = tb.array[to + c];
                    if (t != 0f) loss -= t * logP;
                    if (gb != null) gb.array[gb.offset + r * cols + c] = gradScale * (float) (Math.exp(logP) - t);
                }
                perRow[r] = loss;
            }
        });
        double s = 0;
        for (double l : perRow) s += l;
        return s;
    }

    // ---- host-loop layer ops: in place on the arrays, in parallel ----

    @Override public HostArray hostRead(Buffer b) {
        CpuBuffer c = own(b);
        return new HostArray(c.array, c.offset);
    }

    @Override public HostArray hostWrite(Buffer b) { return hostRead(b); }

    @Override public void hostWriteBack(HostArray h, Buffer b) { }

    @Override public HostKernels.Loop hostLoop() { return par::forEachIndex; }

    @Override public void close() { par.close(); }

    // ---- operand alignment ----
    // The streaming loops index every array with the same i: with one index C2 can prove the
    // iterations independent and vectorizes them (about 2.6x faster for Adam at 33.5M parameters,
    // docs/benchmarks-cpu.md). The optimizers' buffers and the network runner's activations are
    // whole arrays, so the offsets agree; slices at different offsets go through aligned copies.

    private static boolean sameOffset(CpuBuffer first, CpuBuffer... others) {
        for (CpuBuffer o : others) if (o.offset != first.offset) return false;
        return true;
    }

    private CpuBuffer[] alignedCopies(CpuBuffer... bs) {
        CpuBuffer[] c = new CpuBuffer[bs.length];
        for (int i = 0; i < bs.length; i++) {
            c[i] = new CpuBuffer(this, java.util.Arrays.copyOfRange(bs[i].array, bs[i].offset, bs[i].offset + bs[i].length), 0, bs[i].length);
        }
        return c;
    }

    /** Copies the results back from {@link #alignedCopies}: {@code targets[i]} receives {@code copies[i]}; null skips an input-only operand. */
    private static void copyBack(CpuBuffer[] copies, CpuBuffer... targets) {
        for (int i = 0; i < targets.length; i++) {
            if (targets[i] != null) System.arraycopy(copies[i].array, 0, targets[i].array, targets[i].offset, targets[i].length);
        }
    }

    // ---- checks ----

    private CpuBuffer own(Buffer b) {
        if (b instanceof CpuBuffer c && c.backend() == this) return c;
        throw new IllegalArgumentException("buffer " + b + " does not belong to this cpu backend");
    }

    private static int rowsPerBlock(int cols) { return Math.max(1, Parallel.CHUNK / Math.max(1, cols)); }

    private static int rowBlocks(int rows, int cols) { return (rows + rowsPerBlock(cols) - 1) / rowsPerBlock(cols); }
}
