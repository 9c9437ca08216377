package dev.twophase.backend.cpu;

import dev.twophase.backend.Activation;
import dev.twophase.backend.AdamScalars;
import dev.twophase.backend.AdamUpdate;
import dev.twophase.backend.Backend;
import dev.twophase.backend.Buffer;
import static dev.twophase.backend.BufferChecks.*;
import dev.twophase.backend.GradientNorms;
import dev.twophase.backend.HostKernels;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.Objects;
import java.util.function.IntConsumer;

/**
 * The CPU backend: Java float arrays, loops over fixed chunks on a private thread pool (see
 * {@link Parallel}), SGEMM through OpenBLAS (FFM) or a plain Java fallback. Always available.
 *
 * <p>Besides buffers it allocates, it works in place on memory the caller already has:
 * {@link #wrap(float[])} and {@link #wrap(MemorySegment)} hand it a trainer's own weights and
 * gradients without a copy. After {@link #close()} every op, {@link #allocate} and {@link #wrap}
 * throw {@link IllegalStateException}; so do ops on a buffer that was closed.
 */
public final class CpuBackend implements Backend {
    /** The most floats one buffer holds (Java arrays are indexed by int). */
    public static final int MAX_LENGTH = Integer.MAX_VALUE - 8;
    /**
     * Elements per staged piece when operands are not arrays at one common index (wrapped
     * segments, slices at different offsets): a multiple of 4, so four-way accumulations keep
     * their order, and small enough that five operands' pieces stay in L1.
     */
    static final int STAGE = 1024;

    private final Parallel par;
    private final OpenBlas blas;
    private final String gemmDescription;
    private volatile boolean closed;

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
            } catch (ClassNotFoundException | NoClassDefFoundError e) {
                loaded = null;
                gemm = "plain Java (OpenBLAS not found: " + openBlasHint() + ")";
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

    /** What a user adds to get OpenBLAS: the artifacts, and on the module path the module to resolve. */
    private static String openBlasHint() {
        String artifacts = "add org.bytedeco:openblas and its natives (classifier linux-x86_64 or your platform's)";
        return CpuBackend.class.getModule().isNamed()
                ? artifacts + " to the module path with --add-modules org.bytedeco.openblas.linux.x86_64 (your platform's module)"
                : artifacts + " to the class path";
    }

    @Override public String name() { return "cpu"; }

    @Override public String description() {
        return "cpu: " + par.threads() + (par.threads() == 1 ? " thread" : " threads") + ", GEMM: " + gemmDescription;
    }

    @Override public String toString() { return description(); }

    public int threads() { return par.threads(); }

    public boolean usesOpenBlas() { return blas != null; }

    // ---- memory ----

    @Override public Buffer allocate(long length) {
        checkOpen("allocate");
        if (length < 0 || length > MAX_LENGTH) {
            throw new IllegalArgumentException("allocate: cpu buffers hold 0 to " + MAX_LENGTH + " floats; asked for " + length);
        }
        return new CpuBuffer(new CpuBuffer.Root(this, "allocated"), new float[(int) length], 0, (int) length);
    }

    /**
     * A buffer over {@code array} itself, no copy: the ops read and write the array in place, so
     * a trainer that keeps its weights and gradients in float arrays hands them to
     * {@link dev.twophase.optim.Adam} or {@link dev.twophase.optim.ConjugateGradient} as they are
     * and sees every update at once. Closing the buffer leaves the array alone; the backend
     * only refuses the buffer from then on.
     */
    public Buffer wrap(float[] array) {
        Objects.requireNonNull(array, "wrap: array");
        return wrap(array, 0, array.length);
    }

    /** A buffer over {@code array[offset, offset + length)}, no copy (see {@link #wrap(float[])}). */
    public Buffer wrap(float[] array, int offset, int length) {
        checkOpen("wrap");
        Objects.requireNonNull(array, "wrap: array");
        if (offset < 0 || length < 0 || offset > array.length - length) {
            throw new IndexOutOfBoundsException("wrap: range [" + offset + ", " + ((long) offset + length) + ") is outside an array of " + array.length + " floats");
        }
        return new CpuBuffer(new CpuBuffer.Root(this, "wrapping float[" + array.length + "]"), array, offset, length);
    }

    /**
     * A buffer over the floats of {@code segment} (native byte order, any alignment), no copy. A
     * heap segment over a {@code float[]} becomes a buffer over that array. Any other segment
     * (off-heap memory from an {@link java.lang.foreign.Arena}, another library's native buffer
     * reached through {@code MemorySegment.ofAddress(address).reinterpret(bytes)}) serves the
     * memory and optimizer ops, which stream it in pieces of {@value #STAGE} floats; the model ops
     * ({@code gemm}, the layer ops) need array-backed buffers and refuse it. The segment must
     * stay accessible (its arena open) while the buffer is used; closing the buffer does not
     * close the segment. Ops on a segment of a confined arena run on the calling thread alone
     * (which must be the arena's owner); shared, global and automatic arenas get all threads.
     */
    public Buffer wrap(MemorySegment segment) {
        checkOpen("wrap");
        Objects.requireNonNull(segment, "wrap: segment");
        long bytes = segment.byteSize();
        if (segment.isReadOnly()) throw new IllegalArgumentException("wrap: the segment is read-only; the ops write their results in place");
        if (bytes % Float.BYTES != 0) throw new IllegalArgumentException("wrap: the segment has " + bytes + " bytes, not a whole number of floats");
        if (bytes / Float.BYTES > MAX_LENGTH) {
            throw new IllegalArgumentException("wrap: the segment has " + bytes / Float.BYTES + " floats; a cpu buffer holds at most " + MAX_LENGTH);
        }
        if (segment.heapBase().orElse(null) instanceof float[] a && segment.address() % Float.BYTES == 0) {
            return new CpuBuffer(new CpuBuffer.Root(this, "wrapping a segment of float[" + a.length + "]"), a,
                    (int) (segment.address() / Float.BYTES), (int) (bytes / Float.BYTES));
        }
        String kind = segment.isNative() ? "native" : "heap";
        return new CpuBuffer(new CpuBuffer.Root(this, "wrapping a " + kind + " segment of " + bytes + " bytes"), segment);
    }

    @Override public void upload(float[] src, int srcOffset, int length, Buffer dst) {
        CpuBuffer d = own(dst, "upload", "dst");
        checkTransfer("upload", "src", src, srcOffset, length, "dst", d);
        if (d.isArray()) System.arraycopy(src, srcOffset, d.array, d.offset, length);
        else MemorySegment.copy(src, srcOffset, d.segment, CpuBuffer.FLOAT, 0, length);
    }

    @Override public void download(Buffer src, float[] dst, int dstOffset, int length) {
        CpuBuffer s = own(src, "download", "src");
        checkTransfer("download", "dst", dst, dstOffset, length, "src", s);
        if (s.isArray()) System.arraycopy(s.array, s.offset, dst, dstOffset, length);
        else MemorySegment.copy(s.segment, CpuBuffer.FLOAT, 0, dst, dstOffset, length);
    }

    @Override public void copy(Buffer src, Buffer dst) {
        CpuBuffer s = own(src, "copy", "src"), d = own(dst, "copy", "dst");
        sameLength("copy", "src", s, "dst", d);
        if (s.isArray() && d.isArray()) System.arraycopy(s.array, s.offset, d.array, d.offset, s.length);
        else MemorySegment.copy(s.asSegment(), 0, d.asSegment(), 0, (long) s.length * Float.BYTES);
    }

    @Override public void fill(Buffer dst, float value) {
        CpuBuffer d = own(dst, "fill", "dst");
        elementwise(new CpuBuffer[]{d}, new boolean[]{true}, (a, base, lo, hi) -> Arrays.fill(a[0], base + lo, base + hi, value));
    }

    // ---- optimizer vector ops ----

    @Override public void adamStep(AdamUpdate u, Buffer param, Buffer grad, Buffer expAvg, Buffer expAvgSq, Buffer maxExpAvgSq) {
        CpuBuffer p = own(param, "adamStep", "param"), g = own(grad, "adamStep", "grad");
        CpuBuffer m = own(expAvg, "adamStep", "expAvg"), v = own(expAvgSq, "adamStep", "expAvgSq");
        CpuBuffer vMax = maxExpAvgSq == null ? null : own(maxExpAvgSq, "adamStep", "maxExpAvgSq");
        checkAdam(u, p, g, m, v, vMax);
        CpuBuffer[] ops = vMax == null ? new CpuBuffer[]{p, g, m, v} : new CpuBuffer[]{p, g, m, v, vMax};
        boolean[] written = vMax == null ? new boolean[]{true, false, true, true} : new boolean[]{true, false, true, true, true};
        elementwise(ops, written, (a, base, lo, hi) -> {
            float[] vm = a.length > 4 ? a[4] : null;
            // The segments of the update that overlap [lo, hi), each with its own scalars.
            for (int seg = u.segmentOf(lo); seg < u.segments() && u.offset(seg) < hi; seg++) {
                int from = (int) Math.max(lo, u.offset(seg)), to = (int) Math.min(hi, u.offset(seg + 1));
                if (from < to) adam(u.scalars(seg), a[0], a[1], a[2], a[3], vm, base + from, base + to);
            }
        });
    }

    /**
     * The formula of {@link AdamScalars} over array indices {@code [from, to)}, each operation
     * rounded separately; {@code vMax} null for Adam, AMSGrad's maximum otherwise. The AMSGrad
     * test is loop-invariant, so C2 compiles one vectorized loop per case.
     */
    private static void adam(AdamScalars s, float[] pa, float[] ga, float[] ma, float[] va, float[] vMax, int from, int to) {
        final float beta1 = s.beta1(), beta2 = s.beta2(), oneMinusBeta1 = s.oneMinusBeta1(), oneMinusBeta2 = s.oneMinusBeta2();
        final float stepSize = s.stepSize(), bc2Sqrt = s.biasCorrection2Sqrt(), eps = s.eps();
        final float l2 = s.l2WeightDecay(), decay = s.decayFactor(), gradScale = s.gradScale();
        final boolean amsgrad = vMax != null;
        for (int i = from; i < to; i++) {
            float pi = pa[i];
            float gi = ga[i] * gradScale + l2 * pi;
            pi = pi * decay;
            float mi = beta1 * ma[i] + oneMinusBeta1 * gi;
            float vi = beta2 * va[i] + oneMinusBeta2 * gi * gi;
            ma[i] = mi;
            va[i] = vi;
            if (amsgrad) {
                vi = Math.max(vMax[i], vi);
                vMax[i] = vi;
            }
            pa[i] = pi - stepSize * mi / ((float) Math.sqrt(vi) / bc2Sqrt + eps);
        }
    }

    @Override public void multiDot(Buffer x, Buffer[] ys, double[] out) {
        CpuBuffer xb = own(x, "multiDot", "x");
        int k = ys.length;
        if (out.length < k) throw new IllegalArgumentException("multiDot: out has " + out.length + " slots for " + k + " dots");
        CpuBuffer[] all = new CpuBuffer[k + 1];
        all[0] = xb;
        for (int j = 0; j < k; j++) {
            all[j + 1] = own(ys[j], "multiDot", "ys[" + j + "]");
            sameLength("multiDot", "x", xb, "ys[" + j + "]", all[j + 1]);
        }
        int chunks = Parallel.chunkCount(xb.length);
        double[] partial = new double[chunks * k];
        forEachChunk(all, xb.length, (chunk, lo, hi) -> {
            Pieces v = new Pieces(all, false, hi - lo);
            double[][] acc = new double[k][4];
            for (int from = lo; from < hi; from += v.step) {
                int to = Math.min(hi, from + v.step);
                v.load(from, to);
                for (int j = 0; j < k; j++) dotInto(acc[j], v.a[0], v.base[0], v.a[j + 1], v.base[j + 1], from, to);
            }
            for (int j = 0; j < k; j++) partial[chunk * k + j] = sum(acc[j]);
        });
        for (int j = 0; j < k; j++) {
            double s = 0;
            for (int c = 0; c < chunks; c++) s += partial[c * k + j];
            out[j] = s;
        }
    }

    /**
     * Adds {@code x[xo + i] * y[yo + i]} for i in {@code [lo, hi)}, in double, to four interleaved
     * accumulators so the adds pipeline: element {@code lo + j} goes to {@code acc[j % 4]}, and
     * when {@code hi - lo} is not a multiple of 4 the last elements go to {@code acc[0]}. Pieces
     * of a multiple of 4 elements, summed one after another, give the bits of one call over all.
     */
    private static void dotInto(double[] acc, float[] x, int xo, float[] y, int yo, int lo, int hi) {
        double s0 = acc[0], s1 = acc[1], s2 = acc[2], s3 = acc[3];
        int i = lo;
        for (; i + 3 < hi; i += 4) {
            s0 += (double) x[xo + i] * y[yo + i];
            s1 += (double) x[xo + i + 1] * y[yo + i + 1];
            s2 += (double) x[xo + i + 2] * y[yo + i + 2];
            s3 += (double) x[xo + i + 3] * y[yo + i + 3];
        }
        for (; i < hi; i++) s0 += (double) x[xo + i] * y[yo + i];
        acc[0] = s0;
        acc[1] = s1;
        acc[2] = s2;
        acc[3] = s3;
    }

    private static double sum(double[] acc) { return (acc[0] + acc[1]) + (acc[2] + acc[3]); }

    @Override public void cgDirection(Buffer d, Buffer g, Buffer gPrev, double beta) {
        CpuBuffer db = own(d, "cgDirection", "d"), gb = own(g, "cgDirection", "g"), pb = own(gPrev, "cgDirection", "gPrev");
        sameLength("cgDirection", "d", db, "g", gb);
        sameLength("cgDirection", "d", db, "gPrev", pb);
        final float b = (float) beta;
        elementwise(new CpuBuffer[]{db, gb, pb}, new boolean[]{true, false, true}, (a, base, lo, hi) -> {
            float[] da = a[0], ga = a[1], pa = a[2];
            for (int i = base + lo, end = base + hi; i < end; i++) {
                float gi = ga[i];
                da[i] = -gi + b * da[i];
                pa[i] = gi;
            }
        });
    }

    @Override public void trialPoint(Buffer x, Buffer x0, Buffer d, double alpha) {
        CpuBuffer xb = own(x, "trialPoint", "x"), x0b = own(x0, "trialPoint", "x0"), db = own(d, "trialPoint", "d");
        sameLength("trialPoint", "x", xb, "x0", x0b);
        sameLength("trialPoint", "x", xb, "d", db);
        final float al = (float) alpha;
        elementwise(new CpuBuffer[]{xb, x0b, db}, new boolean[]{true, false, false}, (a, base, lo, hi) -> {
            float[] xa = a[0], x0a = a[1], da = a[2];
            for (int i = base + lo, end = base + hi; i < end; i++) xa[i] = x0a[i] + al * da[i];
        });
    }

    @Override public void axpy(float alpha, Buffer x, Buffer y) {
        CpuBuffer xb = own(x, "axpy", "x"), yb = own(y, "axpy", "y");
        sameLength("axpy", "x", xb, "y", yb);
        elementwise(new CpuBuffer[]{xb, yb}, new boolean[]{false, true}, (a, base, lo, hi) -> {
            float[] xa = a[0], ya = a[1];
            for (int i = base + lo, end = base + hi; i < end; i++) ya[i] += alpha * xa[i];
        });
    }

    @Override public GradientNorms segmentedNorms(Buffer g, long[] offsets) {
        CpuBuffer gb = own(g, "segmentedNorms", "g");
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
        for (int t = 0; t < tensors; t++) Arrays.fill(chunkTensor, firstChunk[t], firstChunk[t + 1], t);
        double[] partial = new double[chunks];
        CpuBuffer[] ops = {gb};
        forEachIndex(ops, chunks, c -> {
            int t = chunkTensor[c];
            int lo = (int) (offsets[t] + (long) (c - firstChunk[t]) * Parallel.CHUNK);
            int hi = (int) Math.min(offsets[t + 1], lo + Parallel.CHUNK);
            Pieces v = new Pieces(ops, false, hi - lo);
            double[] acc = new double[4];
            for (int from = lo; from < hi; from += v.step) {
                int to = Math.min(hi, from + v.step);
                v.load(from, to);
                dotInto(acc, v.a[0], v.base[0], v.a[0], v.base[0], from, to);
            }
            partial[c] = sum(acc);
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

    @Override public double maxAbs(Buffer x) {
        CpuBuffer xb = own(x, "maxAbs", "x");
        int[] partial = new int[Parallel.chunkCount(xb.length)];
        CpuBuffer[] ops = {xb};
        forEachChunk(ops, xb.length, (chunk, lo, hi) -> {
            Pieces v = new Pieces(ops, false, hi - lo);
            int max = 0;
            for (int from = lo; from < hi; from += v.step) {
                int to = Math.min(hi, from + v.step);
                v.load(from, to);
                max = maxAbsBits(v.a[0], v.base[0] + from, v.base[0] + to, max);
            }
            partial[chunk] = max;
        });
        int max = 0;
        for (int m : partial) max = Math.max(max, m);
        return Float.intBitsToFloat(max); // NaN stays NaN
    }

    /**
     * The largest of {@code max} and the bits of {@code |a[i]|} over {@code [from, to)}: a float's
     * bits with the sign cleared, compared as integers, order as the magnitudes, and every NaN's
     * lie above +Infinity's, so the maximum is exact, order-independent and NaN wherever a NaN is
     * (the GPU kernels take the same maximum). The compare is a branch, rarely taken once the
     * maximum settles; as {@code Math.max} C2's reduction ran about 4 times slower here.
     */
    private static int maxAbsBits(float[] a, int from, int to, int max) {
        int m = max;
        for (int i = from; i < to; i++) {
            int bits = Float.floatToRawIntBits(a[i]) & 0x7fffffff;
            if (bits > m) m = bits;
        }
        return m;
    }

    // ---- model ops ----

    @Override public void gemm(boolean transA, boolean transB, int m, int n, int k, float alpha, Buffer a, int lda,
                               Buffer b, int ldb, float beta, Buffer c, int ldc) {
        CpuBuffer ab = arr(a, "gemm", "a"), bb = arr(b, "gemm", "b"), cb = arr(c, "gemm", "c");
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
        CpuBuffer.Root scratch = new CpuBuffer.Root(this, "gemm partial sums");
        par.forEachIndex(slices, i -> {
            int p0 = i * depth, kk = Math.min(depth, k - p0);
            CpuBuffer aSlice = slice(a, transA ? (long) p0 * lda : p0), bSlice = slice(b, transB ? p0 : (long) p0 * ldb);
            blas.sgemm(transA, transB, m, n, kk, 1f, aSlice, lda, bSlice, ldb, 0f, new CpuBuffer(scratch, partial, i * size, size), n);
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
        JavaGemm.sgemm(par, transA, transB, m, n, k, alpha, arr(a, "gemm", "a"), lda, arr(b, "gemm", "b"), ldb, beta, arr(c, "gemm", "c"), ldc);
    }

    @Override public void addBias(Buffer y, Buffer bias) {
        CpuBuffer yb = arr(y, "addBias", "y"), bb = arr(bias, "addBias", "bias");
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
        CpuBuffer yb = arr(dy, "accumulateBiasGradient", "dy"), db = arr(dBias, "accumulateBiasGradient", "dBias");
        int cols = db.length, rows = (int) rowsOf("accumulateBiasGradient", yb, cols);
        double[] acc = new double[cols];
        for (int r = 0; r < rows; r++) {
            int base = yb.offset + r * cols;
            for (int c = 0; c < cols; c++) acc[c] += yb.array[base + c];
        }
        for (int c = 0; c < cols; c++) db.array[db.offset + c] += (float) acc[c];
    }

    @Override public void activation(Activation f, Buffer x, Buffer y) {
        CpuBuffer xb = arr(x, "activation", "x"), yb = arr(y, "activation", "y");
        sameLength("activation", "x", xb, "y", yb);
        elementwise(new CpuBuffer[]{xb, yb}, new boolean[]{false, true}, (a, base, lo, hi) -> {
            float[] xa = a[0], ya = a[1];
            int from = base + lo, to = base + hi;
            switch (f) {
                case IDENTITY -> System.arraycopy(xa, from, ya, from, to - from);
                case RELU -> { for (int i = from; i < to; i++) ya[i] = Math.max(xa[i], 0f); }
                default -> { for (int i = from; i < to; i++) ya[i] = f.apply(xa[i]); }
            }
        });
    }

    @Override public void activationBackward(Activation f, Buffer x, Buffer y, Buffer dy, Buffer dx) {
        CpuBuffer xb = arr(x, "activationBackward", "x"), yb = arr(y, "activationBackward", "y");
        CpuBuffer gyb = arr(dy, "activationBackward", "dy"), gxb = arr(dx, "activationBackward", "dx");
        sameLength("activationBackward", "x", xb, "y", yb);
        sameLength("activationBackward", "x", xb, "dy", gyb);
        sameLength("activationBackward", "x", xb, "dx", gxb);
        elementwise(new CpuBuffer[]{xb, yb, gyb, gxb}, new boolean[]{false, false, false, true}, (a, base, lo, hi) -> {
            float[] xa = a[0], ya = a[1], gy = a[2], gx = a[3];
            int from = base + lo, to = base + hi;
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
        CpuBuffer ob = arr(out, "squaredError", "out"), tb = arr(target, "squaredError", "target");
        sameLength("squaredError", "out", ob, "target", tb);
        CpuBuffer gb = dOut == null ? null : arr(dOut, "squaredError", "dOut");
        if (gb != null) sameLength("squaredError", "out", ob, "dOut", gb);
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
        CpuBuffer lb = arr(logits, "softmaxCrossEntropy", "logits"), tb = arr(target, "softmaxCrossEntropy", "target");
        sameLength("softmaxCrossEntropy", "logits", lb, "target", tb);
        CpuBuffer gb = dOut == null ? null : arr(dOut, "softmaxCrossEntropy", "dOut");
        if (gb != null) sameLength("softmaxCrossEntropy", "logits", lb, "dOut", gb);
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
        CpuBuffer c = arr(b, "hostRead", "b");
        return new HostArray(c.array, c.offset);
    }

    @Override public HostArray hostWrite(Buffer b) { return hostRead(b); }

    @Override public void hostWriteBack(HostArray h, Buffer b) { }

    @Override public HostKernels.Loop hostLoop() { return par::forEachIndex; }

    @Override public void close() {
        closed = true;
        par.close();
    }

    // ---- operands ----
    // The streaming loops index every array with the same i: with one index C2 can prove the
    // iterations independent and vectorizes them (about 2.6x faster for Adam at 33.5M parameters,
    // docs/benchmarks-cpu.md). The optimizers' buffers, wrapped arrays and the network runner's
    // activations are whole arrays, so the index is shared; otherwise (slices at different
    // offsets, wrapped segments) each chunk is staged through small arrays in pieces of STAGE.

    /** An elementwise loop over {@code [lo, hi)} of operands that share one index: element i of operand k is {@code a[k][base + i]}. */
    private interface Elementwise { void run(float[][] a, int base, int lo, int hi); }

    /** Runs {@code body} over equal-length operands, in place when they share an index, else staged; writes back the operands marked {@code written}. */
    private void elementwise(CpuBuffer[] ops, boolean[] written, Elementwise body) {
        int n = ops[0].length;
        if (sharedIndex(ops)) {
            float[][] a = new float[ops.length][];
            for (int k = 0; k < ops.length; k++) a[k] = ops[k].array;
            int base = ops[0].offset;
            par.forEachChunk(n, (chunk, lo, hi) -> body.run(a, base, lo, hi));
            return;
        }
        forEachChunk(ops, n, (chunk, lo, hi) -> {
            Pieces v = new Pieces(ops, true, hi - lo);
            for (int from = lo; from < hi; from += v.step) {
                int to = Math.min(hi, from + v.step);
                v.load(from, to);
                body.run(v.a, -from, from, to);
                v.store(written, from, to);
            }
        });
    }

    /** {@link Parallel#forEachChunk}, on the calling thread alone when an operand is a confined segment (same chunks, same bits). */
    private void forEachChunk(CpuBuffer[] ops, int n, Parallel.ChunkBody body) {
        forEachIndex(ops, Parallel.chunkCount(n), c -> body.run(c, c * Parallel.CHUNK, Math.min(n, (c + 1) * Parallel.CHUNK)));
    }

    /** {@link Parallel#forEachIndex}, on the calling thread alone when an operand is a confined segment. */
    private void forEachIndex(CpuBuffer[] ops, int count, IntConsumer body) {
        if (anyConfined(ops)) for (int i = 0; i < count; i++) body.accept(i);
        else par.forEachIndex(count, body);
    }

    private static boolean anyConfined(CpuBuffer[] ops) {
        for (CpuBuffer o : ops) if (o.confined) return true;
        return false;
    }

    private static boolean sharedIndex(CpuBuffer[] ops) {
        for (CpuBuffer o : ops) if (!o.isArray() || o.offset != ops[0].offset) return false;
        return true;
    }

    /**
     * Array views of operands for one piece {@code [from, to)} of a chunk: element i of operand k
     * is {@code a[k][base[k] + i]}. An array operand is used in place unless {@code stageAll}
     * (elementwise loops need one shared index); the others are copied into per-chunk scratch.
     */
    private static final class Pieces {
        final CpuBuffer[] ops;
        final float[][] a, scratch;
        final int[] base;
        /** Piece length: the whole chunk when nothing is staged. */
        final int step;

        Pieces(CpuBuffer[] ops, boolean stageAll, int chunkLength) {
            this.ops = ops;
            this.a = new float[ops.length][];
            this.scratch = new float[ops.length][];
            this.base = new int[ops.length];
            boolean staged = false;
            for (int k = 0; k < ops.length; k++) {
                if (stageAll || !ops[k].isArray()) {
                    scratch[k] = new float[Math.min(STAGE, chunkLength)];
                    staged = true;
                }
            }
            this.step = staged ? STAGE : Math.max(1, chunkLength);
        }

        void load(int from, int to) {
            for (int k = 0; k < ops.length; k++) {
                if (scratch[k] == null) {
                    a[k] = ops[k].array;
                    base[k] = ops[k].offset;
                } else {
                    ops[k].read(from, scratch[k], to - from);
                    a[k] = scratch[k];
                    base[k] = -from;
                }
            }
        }

        void store(boolean[] written, int from, int to) {
            for (int k = 0; k < ops.length; k++) if (written[k] && scratch[k] != null) ops[k].write(from, scratch[k], to - from);
        }
    }

    // ---- checks ----

    private void checkOpen(String op) {
        if (closed) throw new IllegalStateException(op + ": this cpu backend is closed");
    }

    /** The buffer as this backend's, open; otherwise an exception naming the op and the argument. */
    private CpuBuffer own(Buffer b, String op, String arg) {
        Objects.requireNonNull(b, () -> op + ": " + arg + " is null");
        if (!(b instanceof CpuBuffer c) || c.root.owner != this) throw foreign(op, arg, b, this);
        checkOpen(op);
        if (c.root.closed) throw new IllegalStateException(op + ": " + arg + " was closed: " + c);
        return c;
    }

    /** Like {@link #own}, for the model ops, which run on arrays only. */
    private CpuBuffer arr(Buffer b, String op, String arg) {
        CpuBuffer c = own(b, op, arg);
        if (!c.isArray()) {
            throw new IllegalArgumentException(op + ": " + arg + " wraps a memory segment (" + c + "); the cpu backend's model ops need "
                    + "array-backed buffers (allocate, or wrap a float[])");
        }
        return c;
    }

    private static int rowsPerBlock(int cols) { return Math.max(1, Parallel.CHUNK / Math.max(1, cols)); }

    private static int rowBlocks(int rows, int cols) { return (rows + rowsPerBlock(cols) - 1) / rowsPerBlock(cols); }
}
