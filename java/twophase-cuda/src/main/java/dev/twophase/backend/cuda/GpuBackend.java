package dev.twophase.backend.cuda;

import static dev.twophase.backend.BufferChecks.*;

import dev.twophase.backend.Activation;
import dev.twophase.backend.AdamUpdate;
import dev.twophase.backend.Backend;
import dev.twophase.backend.Buffer;
import dev.twophase.backend.ConvShape;
import dev.twophase.backend.GradientNorms;
import dev.twophase.backend.Transfers;

import java.lang.foreign.SymbolLookup;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;

/**
 * What the two GPU backends (JCuda and FFM) share: the {@link Backend} contract's argument checks
 * (the same checks as the CPU backend), the bookkeeping of device
 * allocations, and the host-side semantics of each op (empty work, multi-dot in groups of
 * {@link CudaGeometry#MAX_DOTS}, overlapping copies, doubles rounded to float for the kernels).
 * A subclass only moves bytes and launches kernels through its binding: the {@code device*}
 * methods below, which are called with validated, non-empty arguments of its own buffer type.
 *
 * <p>Memory: {@link #allocate} registers each root allocation; closing it frees it once; {@link
 * #close()} frees every allocation still live (in reverse order), then the subclass's resources.
 * Using a buffer after its memory is gone throws {@link IllegalStateException} (never a device
 * fault). Any CUDA failure, device out-of-memory included, is a {@link CudaException} naming the
 * call. Not thread-safe (like a CUDA stream): one thread at a time per backend.
 *
 * @param <B> the subclass's buffer type
 */
public abstract class GpuBackend<B extends GpuBuffer> implements Backend {
    private final Class<B> bufferType;
    /** Live root allocations in allocation order (GpuBuffer keeps identity equality). */
    private final Set<GpuBuffer> live = new LinkedHashSet<>();
    private volatile boolean closed;
    private volatile boolean cublasForAttention = true;
    /** dP/dS of the attention backward: device memory outside the live set, freed by close(). */
    private B attentionScratch;
    /** Bytes copied host to device and device to host (see {@link #transfers()}). */
    private long hostToDevice, deviceToHost;
    /** Whether {@link Backend}'s host-copy layer methods may run (see {@link #allowHostFallback}). */
    private boolean hostFallbackAllowed;
    private long hostFallbackCopies;

    protected GpuBackend(Class<B> bufferType) {
        this.bufferType = bufferType;
    }

    // ---------------------------------------------------------------- what a binding implements

    /** Allocates {@code length} floats (length > 0) of device memory, zero-filled. */
    protected abstract B deviceAllocate(long length);

    /** A slice of {@code root} (already range-checked). */
    protected abstract B deviceSlice(B root, long offset, long length);

    /** Frees a root allocation (called once per root, also during close). */
    protected abstract void deviceFree(B root);

    /** Releases everything else the binding holds (scratch, modules, handles, context). */
    protected abstract void deviceClose();

    protected abstract void deviceUpload(float[] src, int srcOffset, B dst, long n);

    protected abstract void deviceDownload(B src, float[] dst, int dstOffset, long n);

    /** Copies n floats; src and dst do not overlap. */
    protected abstract void deviceCopy(B src, B dst, long n);

    protected abstract void deviceFill(B dst, float value, long n);

    protected abstract void deviceSynchronize();

    /**
     * The fused Adam step over {@code n > 0} elements in one kernel pass: {@code u}'s segments with
     * their scalars, and AMSGrad's maximum when {@code vMax} is not null. One segment without
     * AMSGrad (the default configuration) takes the kernel with the scalars as arguments; anything
     * else the segmented kernel with the table in device memory.
     */
    protected abstract void deviceAdam(AdamUpdate u, B p, B g, B m, B v, B vMax, long n);

    /** {@code out[outOffset + j] = x . ys[j]} for {@code 1 <= ys.length <= MAX_DOTS}. */
    protected abstract void deviceMultiDot(B x, B[] ys, long n, double[] out, int outOffset);

    protected abstract void deviceCgDirection(B d, B g, B gPrev, long n, float beta);

    protected abstract void deviceTrialPoint(B x, B x0, B d, long n, float alpha);

    protected abstract void deviceAxpy(float a, B x, B y, long n);

    /**
     * Segmented sums of squares and maximum magnitudes: {@code sumsq[t]} and {@code maxAbs[t]} per
     * tensor, {@code sumsq[tensors]} and {@code maxAbs[tensors]} over all; returns the non-finite
     * flag. Offsets are validated, g is not empty.
     */
    protected abstract boolean deviceSegmentedNorms(B g, long[] offsets, double[] sumsq, float[] maxAbs);

    protected abstract void deviceGemm(boolean transA, boolean transB, int m, int n, int k, float alpha, B a, int lda,
                                       B b, int ldb, float beta, B c, int ldc);

    protected abstract void deviceAddBias(B y, B bias, long rows, int cols);

    /** dBias += column sums of dy; rows may be 0 (then dBias += 0). */
    protected abstract void deviceBiasGradient(B dy, B dBias, long rows, int cols);

    protected abstract void deviceActivation(int act, B x, B y, long n);

    protected abstract void deviceActivationBackward(int act, B x, B y, B dy, B dx, long n);

    /** dOut may be null. */
    protected abstract double deviceSquaredError(B out, B target, float gradScale, B dOut, long n);

    /** dOut may be null; {@code 1 <= rows <= Integer.MAX_VALUE}. */
    protected abstract double deviceSoftmaxCrossEntropy(B logits, B target, long rows, int cols, float gradScale, B dOut);

    // conv ops of channels-last batches: lengths checked against the shape, buffers disjoint

    protected abstract void deviceIm2col(ConvShape s, B x, B cols);

    protected abstract void deviceCol2im(ConvShape s, B cols, B dx);

    protected abstract void deviceMaxPool(ConvShape s, B x, B y);

    protected abstract void deviceMaxPoolBackward(ConvShape s, B x, B y, B dy, B dx);

    /** {@code rows, cols >= 2} (a vector's transpose is a copy, done by the base class), batch >= 1. */
    protected abstract void deviceBatchedTranspose(int batch, int rows, int cols, B x, B y);

    // ---- attention, layer norm, token mean (their checks and the attention's recipe are below)

    /**
     * One batched matrix product of the attention, row-major: for {@code o < outer} and {@code i < inner}, the matrices
     * at {@code o * strideAOuter + i * strideAInner} floats into A (B and C likewise):
     * {@code C = alpha * op(A) op(B)}, op(A) m x k, op(B) k x n, leading dimensions as in CBLAS; C is overwritten.
     */
    protected record BatchedMatmul(boolean transA, boolean transB, int m, int n, int k, float alpha,
                                   int lda, long strideAOuter, long strideAInner, int ldb, long strideBOuter, long strideBInner,
                                   int ldc, long strideCOuter, long strideCInner, int outer, int inner) { }

    /** The product through twophase's own kernel (each output summed over k in order, no FMA: the CPU backend's bits). */
    protected abstract void deviceBatchedMatmul(BatchedMatmul g, B a, B b, B c);

    /**
     * {@code cublasSgemmStridedBatched} exactly as cuBLAS defines it (column-major; beta 0), on the matrices starting
     * {@code aOffset}, {@code bOffset}, {@code cOffset} floats into the buffers; only called when {@link #usesCublas()}.
     */
    protected abstract void deviceCublasSgemmStridedBatched(boolean transA, boolean transB, int m, int n, int k, float alpha,
                                                            B a, long aOffset, int lda, long strideA, B b, long bOffset, int ldb,
                                                            long strideB, B c, long cOffset, int ldc, long strideC, int batchCount);

    /** Softmax of each row of probs in place (rows >= 1, as tp_attention_softmax). */
    protected abstract void deviceAttentionSoftmax(B probs, long rows, int cols);

    /** grad (dP) becomes dS = (p * (dP - sum_j dP p)) * scale, row by row (rows >= 1). */
    protected abstract void deviceAttentionSoftmaxBackward(B probs, B grad, long rows, int cols, float scale);

    /** Layer norm of rows >= 1 rows. */
    protected abstract void deviceLayerNorm(B x, B gamma, B beta, B y, long rows, int dim, float eps);

    /** Layer norm backward; rows may be 0 (then dGamma and dBeta += 0). */
    protected abstract void deviceLayerNormBackward(B x, B gamma, B dy, B dx, B dGamma, B dBeta, long rows, int dim, float eps);

    /** Token mean of batch >= 1 sequences. */
    protected abstract void deviceTokenMean(B x, B y, long batch, int tokens, int dim);

    /** Token mean backward of batch >= 1 sequences. */
    protected abstract void deviceTokenMeanBackward(B dy, B dx, long batch, int tokens, int dim);

    /** Whether cuBLAS is loaded (GEMM and, unless {@link #useCublasForAttention} turned it off, the attention's products). */
    public abstract boolean usesCublas();

    /** {@code dst[r] = src[indices[r]]}, rows > 0; invalid indices give NaN rows. */
    protected abstract void deviceGatherRows(B src, long srcRows, int cols, B indices, long rows, B dst);

    /** One-hot rows from labels, rows > 0; invalid labels give NaN rows. */
    protected abstract void deviceOneHot(B labels, long rows, int classes, B dst);

    /** The count of correct predictions as the kernel reduces it (exact in double), NaN when a label is invalid; rows > 0. */
    protected abstract double deviceCountCorrect(B outputs, B labels, long rows, int cols);

    // ---------------------------------------------------------------- memory

    @Override public final Buffer allocate(long length) {
        checkOpen("allocate");
        if (length < 0) throw new IllegalArgumentException("allocate: negative length " + length);
        if (length > Long.MAX_VALUE / Float.BYTES) throw new IllegalArgumentException("allocate: " + length + " floats do not fit in 64-bit bytes");
        B b;
        try {
            b = length == 0 ? deviceEmpty() : deviceAllocate(length);
        } catch (CudaException e) {
            if (!e.isOutOfMemory()) throw e;
            throw outOfMemory(length, e);
        }
        synchronized (live) {
            live.add(b);
        }
        return b;
    }

    /** The out-of-memory error of an allocation, with the size asked for and the memory free. */
    private CudaException outOfMemory(long length, CudaException e) {
        String free;
        try {
            long[] info = memoryInfo();
            free = info[0] + " of " + info[1] + " bytes free";
        } catch (RuntimeException ignored) {
            free = "free memory unknown";
        }
        CudaException oom = new CudaException("allocate(" + length + " floats = " + length * Float.BYTES + " bytes; device memory: "
                + free + "): " + e.call(), e.code(), e.error());
        oom.initCause(e);
        return oom;
    }

    /** Free and total memory of the device, in bytes. */
    public abstract long[] memoryInfo();

    /** A root of length 0 that owns no device memory (its pointer is null). */
    protected abstract B deviceEmpty();

    /** Called by {@link GpuBuffer#close()} on a root. */
    final void release(GpuBuffer root) {
        if (!root.markFreed()) return;
        synchronized (live) {
            if (!live.remove(root)) return;
        }
        if (!closed && root.length() > 0) deviceFree(bufferType.cast(root));
    }

    final B newSlice(GpuBuffer root, long offset, long length) {
        return deviceSlice(bufferType.cast(root), offset, length);
    }

    /** Number of root allocations not yet freed. */
    public final int liveAllocations() {
        synchronized (live) {
            return live.size();
        }
    }

    /** Floats in the root allocations not yet freed. */
    public final long liveFloats() {
        synchronized (live) {
            long s = 0;
            for (GpuBuffer b : live) s += b.length();
            return s;
        }
    }

    public final boolean isClosed() { return closed; }

    @Override public final void upload(float[] src, int srcOffset, int length, Buffer dst) {
        B d = own(dst, "upload", "dst");
        checkTransfer("upload", "src", src, srcOffset, length, "dst", d);
        if (length > 0) {
            deviceUpload(src, srcOffset, d, length);
            countHostToDevice((long) length * Float.BYTES);
        }
    }

    @Override public final void download(Buffer src, float[] dst, int dstOffset, int length) {
        B s = own(src, "download", "src");
        checkTransfer("download", "dst", dst, dstOffset, length, "src", s);
        if (length > 0) {
            deviceDownload(s, dst, dstOffset, length);
            countDeviceToHost((long) length * Float.BYTES);
        }
    }

    // ---------------------------------------------------------------- transfer accounting

    /**
     * Bytes copied between host and device since this backend opened: {@link #upload} and
     * {@link #download}, and what the ops copy behind the scenes (the scalars reductions return,
     * the segmented norms' chunk table), as the binding reports them through
     * {@link #countHostToDevice} and {@link #countDeviceToHost}.
     */
    @Override public final Transfers transfers() {
        checkOpen("transfers");
        return new Transfers(hostToDevice, deviceToHost);
    }

    /** A binding's own copy of {@code bytes} from host to device memory (not through {@link #upload}). */
    protected final void countHostToDevice(long bytes) { hostToDevice += bytes; }

    /** A binding's own copy of {@code bytes} from device to host memory (not through {@link #download}). */
    protected final void countDeviceToHost(long bytes) { deviceToHost += bytes; }

    // ---------------------------------------------------------------- emulation

    /** The emulator library this backend runs on, or null on a device. */
    protected SymbolLookup emulatorLibrary() { return null; }

    /**
     * On an emulated backend: how many calls so far made the host wait for the device (see {@link
     * Emulation#hostWaits}); tests use it to check that only the calls that read a value wait.
     *
     * @throws UnsupportedOperationException on a device
     */
    public final long emulatorHostWaits() {
        checkOpen("emulatorHostWaits");
        SymbolLookup lib = emulatorLibrary();
        if (lib == null) throw new UnsupportedOperationException("emulatorHostWaits: the " + name() + " backend runs on a device, not the emulator");
        return Emulation.hostWaits(lib);
    }

    // ---------------------------------------------------------------- no silent host round trips

    /**
     * Whether {@link Backend}'s default layer methods, which copy their buffers to the host, run
     * the op there and copy the results back, may run on this backend. Off by default: such an op
     * (one this backend has no kernel for) throws {@link HostFallbackException} naming it, so a
     * GPU run never moves activations through the host unnoticed. Turned on, each copy is counted
     * ({@link #hostFallbackCopies()}) and its bytes are in {@link #transfers()}.
     */
    public final void allowHostFallback(boolean allowed) { hostFallbackAllowed = allowed; }

    /** Buffers copied to or from the host by {@link Backend}'s default layer methods (allowed ones). */
    public final long hostFallbackCopies() { return hostFallbackCopies; }

    @Override public final HostArray hostRead(Buffer b) {
        hostFallback();
        return Backend.super.hostRead(b);
    }

    @Override public final HostArray hostWrite(Buffer b) {
        hostFallback();
        return Backend.super.hostWrite(b);
    }

    @Override public final void hostWriteBack(HostArray h, Buffer b) {
        hostFallback();
        Backend.super.hostWriteBack(h, b);
    }

    /** Refuses a host round trip unless allowed, naming the {@link Backend} method that asked; counts an allowed one. */
    private void hostFallback() {
        String op = StackWalker.getInstance(StackWalker.Option.RETAIN_CLASS_REFERENCE)
                .walk(frames -> frames.filter(f -> f.getDeclaringClass() == Backend.class).findFirst())
                .map(StackWalker.StackFrame::getMethodName).orElse("an op");
        if (!hostFallbackAllowed) throw new HostFallbackException(name(), op);
        hostFallbackCopies++;
    }

    @Override public final void copy(Buffer src, Buffer dst) {
        B s = own(src, "copy", "src"), d = own(dst, "copy", "dst");
        sameLength("copy", "src", s, "dst", d);
        long n = s.length();
        if (n == 0 || (s.root() == d.root() && s.offset() == d.offset())) return;
        if (!s.overlaps(d)) {
            deviceCopy(s, d, n);
            return;
        }
        // overlapping ranges of one allocation: through a temporary, as System.arraycopy behaves
        try (Buffer tmp = allocate(n)) {
            B t = bufferType.cast(tmp);
            deviceCopy(s, t, n);
            deviceCopy(t, d, n);
        }
    }

    @Override public final void fill(Buffer dst, float value) {
        B d = own(dst, "fill", "dst");
        if (d.length() > 0) deviceFill(d, value, d.length());
    }

    @Override public final void synchronize() {
        checkOpen("synchronize");
        deviceSynchronize();
    }

    // ---------------------------------------------------------------- optimizer vector ops

    /** Every variant the CPU backend runs, in one kernel pass (see {@link #deviceAdam}). */
    @Override public final void adamStep(AdamUpdate u, Buffer param, Buffer grad, Buffer expAvg, Buffer expAvgSq, Buffer maxExpAvgSq) {
        B p = own(param, "adamStep", "param"), g = own(grad, "adamStep", "grad"), m = own(expAvg, "adamStep", "expAvg"), v = own(expAvgSq, "adamStep", "expAvgSq");
        B vMax = maxExpAvgSq == null ? null : own(maxExpAvgSq, "adamStep", "maxExpAvgSq");
        checkAdam(u, p, g, m, v, vMax);
        if (p.length() > 0) deviceAdam(u, p, g, m, v, vMax, p.length());
    }

    @Override public final void multiDot(Buffer x, Buffer[] ys, double[] out) {
        B xb = own(x, "multiDot", "x");
        int k = ys.length;
        if (out.length < k) throw new IllegalArgumentException("multiDot: out has " + out.length + " slots for " + k + " dots");
        @SuppressWarnings("unchecked") B[] yb = (B[]) java.lang.reflect.Array.newInstance(bufferType, k);
        for (int j = 0; j < k; j++) {
            yb[j] = own(ys[j], "multiDot", "ys[" + j + "]");
            sameLength("multiDot", "x", xb, "ys[" + j + "]", yb[j]);
        }
        long n = xb.length();
        if (n == 0) {
            Arrays.fill(out, 0, k, 0.0);
            return;
        }
        for (int j0 = 0; j0 < k; j0 += CudaGeometry.MAX_DOTS) {
            deviceMultiDot(xb, Arrays.copyOfRange(yb, j0, Math.min(k, j0 + CudaGeometry.MAX_DOTS)), n, out, j0);
        }
    }

    @Override public final void cgDirection(Buffer d, Buffer g, Buffer gPrev, double beta) {
        B db = own(d, "cgDirection", "d"), gb = own(g, "cgDirection", "g"), pb = own(gPrev, "cgDirection", "gPrev");
        sameLength("cgDirection", "d", db, "g", gb);
        sameLength("cgDirection", "d", db, "gPrev", pb);
        if (db.length() > 0) deviceCgDirection(db, gb, pb, db.length(), (float) beta);
    }

    @Override public final void trialPoint(Buffer x, Buffer x0, Buffer d, double alpha) {
        B xb = own(x, "trialPoint", "x"), x0b = own(x0, "trialPoint", "x0"), db = own(d, "trialPoint", "d");
        sameLength("trialPoint", "x", xb, "x0", x0b);
        sameLength("trialPoint", "x", xb, "d", db);
        if (xb.length() > 0) deviceTrialPoint(xb, x0b, db, xb.length(), (float) alpha);
    }

    @Override public final void axpy(float a, Buffer x, Buffer y) {
        B xb = own(x, "axpy", "x"), yb = own(y, "axpy", "y");
        sameLength("axpy", "x", xb, "y", yb);
        if (xb.length() > 0) deviceAxpy(a, xb, yb, xb.length());
    }

    @Override public final GradientNorms segmentedNorms(Buffer g, long[] offsets) {
        B gb = own(g, "segmentedNorms", "g");
        int tensors = offsets.length - 1;
        checkSegments(offsets, gb.length());
        double[] sums = new double[tensors + 1];
        boolean nonFinite = gb.length() > 0 && deviceSegmentedNorms(gb, offsets, sums, new float[tensors + 1]);
        return new GradientNorms(Arrays.copyOf(sums, tensors), sums[tensors], nonFinite);
    }

    /**
     * The segmented-norm pass over one segment, for its maximum: the sums come with it at no cost
     * (the pass is bound by reading x); only the few result scalars reach the host.
     */
    @Override public final double maxAbs(Buffer x) {
        B xb = own(x, "maxAbs", "x");
        if (xb.length() == 0) return 0;
        float[] maxima = new float[2];
        deviceSegmentedNorms(xb, new long[] {0, xb.length()}, new double[2], maxima);
        return maxima[1];
    }

    // ---------------------------------------------------------------- model ops

    @Override public final void gemm(boolean transA, boolean transB, int m, int n, int k, float alpha, Buffer a, int lda,
                                     Buffer b, int ldb, float beta, Buffer c, int ldc) {
        B ab = own(a, "gemm", "a"), bb = own(b, "gemm", "b"), cb = own(c, "gemm", "c");
        checkMatrix("gemm A", ab, transA ? k : m, transA ? m : k, lda);
        checkMatrix("gemm B", bb, transB ? n : k, transB ? k : n, ldb);
        checkMatrix("gemm C", cb, m, n, ldc);
        if (m == 0 || n == 0) return;
        deviceGemm(transA, transB, m, n, k, alpha, ab, lda, bb, ldb, beta, cb, ldc);
    }

    @Override public final void addBias(Buffer y, Buffer bias) {
        B yb = own(y, "addBias", "y"), bb = own(bias, "addBias", "bias");
        int cols = columns("addBias", bb);
        long rows = rowsOf("addBias", yb, cols);
        if (rows > 0) deviceAddBias(yb, bb, rows, cols);
    }

    @Override public final void accumulateBiasGradient(Buffer dy, Buffer dBias) {
        B yb = own(dy, "accumulateBiasGradient", "dy"), db = own(dBias, "accumulateBiasGradient", "dBias");
        int cols = columns("accumulateBiasGradient", db);
        long rows = rowsOf("accumulateBiasGradient", yb, cols);
        deviceBiasGradient(yb, db, rows, cols);
    }

    @Override public final void activation(Activation f, Buffer x, Buffer y) {
        Objects.requireNonNull(f, "activation");
        B xb = own(x, "activation", "x"), yb = own(y, "activation", "y");
        sameLength("activation", "x", xb, "y", yb);
        if (xb.length() > 0) deviceActivation(CudaAbi.activationCode(f), xb, yb, xb.length());
    }

    @Override public final void activationBackward(Activation f, Buffer x, Buffer y, Buffer dy, Buffer dx) {
        Objects.requireNonNull(f, "activationBackward");
        B xb = own(x, "activationBackward", "x"), yb = own(y, "activationBackward", "y");
        B gyb = own(dy, "activationBackward", "dy"), gxb = own(dx, "activationBackward", "dx");
        sameLength("activationBackward", "x", xb, "y", yb);
        sameLength("activationBackward", "x", xb, "dy", gyb);
        sameLength("activationBackward", "x", xb, "dx", gxb);
        if (xb.length() > 0) deviceActivationBackward(CudaAbi.activationCode(f), xb, yb, gyb, gxb, xb.length());
    }

    @Override public final double squaredError(Buffer out, Buffer target, float gradScale, Buffer dOut) {
        B ob = own(out, "squaredError", "out"), tb = own(target, "squaredError", "target");
        sameLength("squaredError", "out", ob, "target", tb);
        B gb = dOut == null ? null : own(dOut, "squaredError", "dOut");
        if (gb != null) sameLength("squaredError", "out", ob, "dOut", gb);
        return ob.length() == 0 ? 0.0 : deviceSquaredError(ob, tb, gradScale, gb, ob.length());
    }

    @Override public final double softmaxCrossEntropy(Buffer logits, Buffer target, int cols, float gradScale, Buffer dOut) {
        B lb = own(logits, "softmaxCrossEntropy", "logits"), tb = own(target, "softmaxCrossEntropy", "target");
        sameLength("softmaxCrossEntropy", "logits", lb, "target", tb);
        B gb = dOut == null ? null : own(dOut, "softmaxCrossEntropy", "dOut");
        if (gb != null) sameLength("softmaxCrossEntropy", "logits", lb, "dOut", gb);
        long rows = rowsOf("softmaxCrossEntropy", lb, cols);
        if (rows > Integer.MAX_VALUE) throw new IllegalArgumentException("softmaxCrossEntropy: " + rows + " rows; at most " + Integer.MAX_VALUE);
        return rows == 0 ? 0.0 : deviceSoftmaxCrossEntropy(lb, tb, rows, cols, gradScale, gb);
    }

    // ---------------------------------------------------------------- conv ops (channels-last, cuda/conv.cu)
    // Backend's defaults copy to the host; these run on the device, bit-identical to the CPU backend.

    @Override public final void im2col(ConvShape s, Buffer x, Buffer cols) {
        checkShape("im2col", s);
        B xb = own(x, "im2col", "x"), cb = own(cols, "im2col", "cols");
        convLength("im2col", s, "x", xb, s.inputSize());
        convLength("im2col", s, "cols", cb, s.patchRows() * s.patchColumns());
        disjoint("im2col", "x", xb, "cols", cb);
        deviceIm2col(s, xb, cb);
    }

    @Override public final void col2im(ConvShape s, Buffer cols, Buffer dx) {
        checkShape("col2im", s);
        B cb = own(cols, "col2im", "cols"), db = own(dx, "col2im", "dx");
        convLength("col2im", s, "cols", cb, s.patchRows() * s.patchColumns());
        convLength("col2im", s, "dx", db, s.inputSize());
        disjoint("col2im", "cols", cb, "dx", db);
        deviceCol2im(s, cb, db);
    }

    @Override public final void maxPool(ConvShape s, Buffer x, Buffer y) {
        checkShape("maxPool", s);
        B xb = own(x, "maxPool", "x"), yb = own(y, "maxPool", "y");
        convLength("maxPool", s, "x", xb, s.inputSize());
        convLength("maxPool", s, "y", yb, pooledSize(s));
        disjoint("maxPool", "x", xb, "y", yb);
        deviceMaxPool(s, xb, yb);
    }

    @Override public final void maxPoolBackward(ConvShape s, Buffer x, Buffer y, Buffer dy, Buffer dx) {
        checkShape("maxPoolBackward", s);
        B xb = own(x, "maxPoolBackward", "x"), yb = own(y, "maxPoolBackward", "y");
        B gyb = own(dy, "maxPoolBackward", "dy"), gxb = own(dx, "maxPoolBackward", "dx");
        convLength("maxPoolBackward", s, "x", xb, s.inputSize());
        convLength("maxPoolBackward", s, "y", yb, pooledSize(s));
        convLength("maxPoolBackward", s, "dy", gyb, pooledSize(s));
        convLength("maxPoolBackward", s, "dx", gxb, s.inputSize());
        disjoint("maxPoolBackward", "x", xb, "dx", gxb);
        disjoint("maxPoolBackward", "y", yb, "dx", gxb);
        disjoint("maxPoolBackward", "dy", gyb, "dx", gxb);
        deviceMaxPoolBackward(s, xb, yb, gyb, gxb);
    }

    @Override public final void batchedTranspose(int batch, int rows, int cols, Buffer x, Buffer y) {
        B xb = own(x, "batchedTranspose", "x"), yb = own(y, "batchedTranspose", "y");
        if (batch < 0 || rows < 0 || cols < 0) {
            throw new IllegalArgumentException("batchedTranspose: batch " + batch + ", rows " + rows + ", cols " + cols + " must not be negative");
        }
        long n = (long) batch * rows * cols;
        if (xb.length() != n || yb.length() != n) {
            throw new IllegalArgumentException("batchedTranspose: " + batch + " matrices of " + rows + "x" + cols + " need " + n
                    + " floats; x has " + xb.length() + ", y " + yb.length());
        }
        disjoint("batchedTranspose", "x", xb, "y", yb);
        if (n == 0) return;
        if (rows == 1 || cols == 1) deviceCopy(xb, yb, n); // a vector and its transpose have the same layout
        else deviceBatchedTranspose(batch, rows, cols, xb, yb);
    }

    /** A shape the kernels index with ints within one image, output image and patch (as tp_conv_dims in conv.cu checks). */
    private static void checkShape(String op, ConvShape s) {
        Objects.requireNonNull(s, () -> op + ": shape is null");
        long max = Integer.MAX_VALUE;
        if (s.height() + 2L * s.pad() > max || s.width() + 2L * s.pad() > max || (long) s.height() * s.width() > max
                || (long) s.outHeight() * s.outWidth() > max || (long) s.kernel() * s.kernel() * s.channels() > max) {
            throw new IllegalArgumentException(op + ": " + s + " is too large for the GPU kernels: the padded sides, the pixels of an "
                    + "image and of an output image, and the values of a patch must each be at most " + max);
        }
    }

    /** Floats of a pooling output: out pixels x channels per image. */
    private static long pooledSize(ConvShape s) { return (long) s.batch() * s.outHeight() * s.outWidth() * s.channels(); }

    private static void convLength(String op, ConvShape s, String arg, GpuBuffer b, long need) {
        if (b.length() != need) throw new IllegalArgumentException(op + ": " + arg + " has " + b.length() + " floats; " + s + " needs " + need);
    }

    /** A kernel reads one buffer while it writes the other: they must not share memory. */
    private static void disjoint(String op, String aName, GpuBuffer a, String bName, GpuBuffer b) {
        if (a.overlaps(b)) throw new IllegalArgumentException(op + ": " + aName + " and " + bName + " overlap (" + a + ", " + b + ")");
    }

    // ---------------------------------------------------------------- attention, layer norm, token mean

    /**
     * Whether the attention's matrix products go through cuBLAS's strided-batched SGEMM when cuBLAS is loaded (the
     * default) or always through twophase's own batched kernel, whose results are bit-identical to the CPU backend's
     * (cuBLAS sums in another order, with FMA: the results differ within the float error bound of the products).
     */
    public final void useCublasForAttention(boolean use) { cublasForAttention = use; }

    /** Whether the attention's products run through cuBLAS now. */
    public final boolean attentionUsesCublas() { return cublasForAttention && usesCublas(); }

    /**
     * The attention's layout: per sequence b and head h, a tokens x headDim block of the (batch*tokens) x
     * (heads*headDim) matrices (q, k, v, out and their gradients; leading dimension heads*headDim), and a tokens x
     * tokens block of probs (batch, heads, tokens, tokens) and of the scratch dP/dS.
     */
    private record AttentionShape(int batch, int tokens, int heads, int headDim) {
        long features() { return (long) heads * headDim; }

        long tokenFloats() { return (long) batch * tokens * features(); }

        long probFloats() { return (long) batch * heads * tokens * tokens; }

        /** C (probs-shaped) = alpha * A B^T of two token blocks: the scores, and dP = dOut V^T. */
        BatchedMatmul tokenTimesTokenT(float alpha) {
            int d = (int) features(), t = tokens;
            return new BatchedMatmul(false, true, t, t, headDim, alpha, d, (long) t * d, headDim, d, (long) t * d, headDim,
                    t, (long) heads * t * t, (long) t * t, batch, heads);
        }

        /** C (a token block) = op(P) B of a probs-shaped block and a token block: out = P V, dq = dS K, dk = dS^T Q, dv = P^T dOut. */
        BatchedMatmul probsTimesToken(boolean transP) {
            int d = (int) features(), t = tokens;
            return new BatchedMatmul(transP, false, t, headDim, t, 1f, t, (long) heads * t * t, (long) t * t,
                    d, (long) t * d, headDim, d, (long) t * d, headDim, batch, heads);
        }
    }

    private AttentionShape attentionShape(String op, int batch, int tokens, int heads, int headDim) {
        if (batch < 0 || tokens < 1 || heads < 1 || headDim < 1) {
            throw new IllegalArgumentException(op + ": batch " + batch + ", tokens " + tokens + ", heads " + heads + ", head dim " + headDim
                    + "; expected batch >= 0 and the others >= 1");
        }
        if ((long) heads * headDim > Integer.MAX_VALUE) {
            throw new IllegalArgumentException(op + ": " + heads + " heads of " + headDim + " features exceed " + Integer.MAX_VALUE);
        }
        return new AttentionShape(batch, tokens, heads, headDim);
    }

    /** The matrix product on cuBLAS or on our kernel; the only place that maps the attention's products to cuBLAS. */
    private void batchedMatmul(BatchedMatmul g, B a, B b, B c) {
        if (!attentionUsesCublas()) {
            deviceBatchedMatmul(g, a, b, c);
            return;
        }
        // cuBLAS is column-major: the row-major C = op(A) op(B) is the column-major C^T = op(B)^T op(A)^T, so the operands
        // swap and m, n swap (leading dimensions stay). cuBLAS has one batch stride: one call per inner index (head) with
        // the outer index (sequence) as its batch.
        for (int i = 0; i < g.inner(); i++) {
            deviceCublasSgemmStridedBatched(g.transB(), g.transA(), g.n(), g.m(), g.k(), g.alpha(),
                    b, i * g.strideBInner(), g.ldb(), g.strideBOuter(),
                    a, i * g.strideAInner(), g.lda(), g.strideAOuter(),
                    c, i * g.strideCInner(), g.ldc(), g.strideCOuter(), g.outer());
        }
    }

    /** The device scratch of the attention backward's dP/dS, grown to the largest size asked for; freed by close(). */
    private B attentionScratch(long floats) {
        if (attentionScratch == null || attentionScratch.length() < floats) {
            if (attentionScratch != null) {
                B old = attentionScratch;
                attentionScratch = null;
                deviceFree(old);
            }
            try {
                attentionScratch = deviceAllocate(floats);
            } catch (CudaException e) {
                if (!e.isOutOfMemory()) throw e;
                throw outOfMemory(floats, e);
            }
        }
        return attentionScratch;
    }

    @Override public final void attention(int batch, int tokens, int heads, int headDim, Buffer q, Buffer k, Buffer v, Buffer probs, Buffer out) {
        String op = "attention";
        AttentionShape s = attentionShape(op, batch, tokens, heads, headDim);
        B qb = own(q, op, "q"), kb = own(k, op, "k"), vb = own(v, op, "v"), pb = own(probs, op, "probs"), ob = own(out, op, "out");
        String shape = batch + " x " + tokens + " tokens x " + heads + " heads x " + headDim;
        needs(op, "q", qb, s.tokenFloats(), shape);
        needs(op, "k", kb, s.tokenFloats(), shape);
        needs(op, "v", vb, s.tokenFloats(), shape);
        needs(op, "probs", pb, s.probFloats(), shape);
        needs(op, "out", ob, s.tokenFloats(), shape);
        apart(op, 3, new String[] {"q", "k", "v", "probs", "out"}, qb, kb, vb, pb, ob);
        if (batch == 0) return;
        float scale = (float) (1 / Math.sqrt(headDim)); // as HostKernels
        batchedMatmul(s.tokenTimesTokenT(scale), qb, kb, pb);
        deviceAttentionSoftmax(pb, (long) batch * heads * tokens, tokens);
        batchedMatmul(s.probsTimesToken(false), pb, vb, ob);
    }

    @Override public final void attentionBackward(int batch, int tokens, int heads, int headDim, Buffer q, Buffer k, Buffer v, Buffer probs,
                                                  Buffer dOut, Buffer dq, Buffer dk, Buffer dv) {
        String op = "attentionBackward";
        AttentionShape s = attentionShape(op, batch, tokens, heads, headDim);
        B qb = own(q, op, "q"), kb = own(k, op, "k"), vb = own(v, op, "v"), pb = own(probs, op, "probs"), gb = own(dOut, op, "dOut");
        B dqb = own(dq, op, "dq"), dkb = own(dk, op, "dk"), dvb = own(dv, op, "dv");
        String shape = batch + " x " + tokens + " tokens x " + heads + " heads x " + headDim;
        String[] names = {"q", "k", "v", "probs", "dOut", "dq", "dk", "dv"};
        List<B> all = List.of(qb, kb, vb, pb, gb, dqb, dkb, dvb);
        for (int i = 0; i < names.length; i++) needs(op, names[i], all.get(i), i == 3 ? s.probFloats() : s.tokenFloats(), shape);
        apart(op, 5, names, qb, kb, vb, pb, gb, dqb, dkb, dvb);
        if (batch == 0) return;
        float scale = (float) (1 / Math.sqrt(headDim));
        B g = attentionScratch(s.probFloats());
        batchedMatmul(s.tokenTimesTokenT(1f), gb, vb, g);                 // dP = dOut V^T
        deviceAttentionSoftmaxBackward(pb, g, (long) batch * heads * tokens, tokens, scale); // dS
        batchedMatmul(s.probsTimesToken(false), g, kb, dqb);              // dq = dS K
        batchedMatmul(s.probsTimesToken(true), g, qb, dkb);               // dk = dS^T Q
        batchedMatmul(s.probsTimesToken(true), pb, gb, dvb);              // dv = P^T dOut
    }

    @Override public final void layerNorm(int rows, int dim, float eps, Buffer x, Buffer gamma, Buffer beta, Buffer y) {
        String op = "layerNorm";
        checkRows(op, rows, dim);
        B xb = own(x, op, "x"), gb = own(gamma, op, "gamma"), bb = own(beta, op, "beta"), yb = own(y, op, "y");
        String shape = rows + " rows of " + dim;
        needs(op, "x", xb, (long) rows * dim, shape);
        needs(op, "y", yb, (long) rows * dim, shape);
        needs(op, "gamma", gb, dim, shape);
        needs(op, "beta", bb, dim, shape);
        boolean inPlace = yb.root() == xb.root() && yb.offset() == xb.offset(); // each row is read before it is written
        if (inPlace) apart(op, 2, new String[] {"gamma", "beta", "y"}, gb, bb, yb);
        else apart(op, 3, new String[] {"x", "gamma", "beta", "y"}, xb, gb, bb, yb);
        if (rows > 0) deviceLayerNorm(xb, gb, bb, yb, rows, dim, eps);
    }

    @Override public final void layerNormBackward(int rows, int dim, float eps, Buffer x, Buffer gamma, Buffer dy, Buffer dx, Buffer dGamma,
                                                  Buffer dBeta) {
        String op = "layerNormBackward";
        checkRows(op, rows, dim);
        B xb = own(x, op, "x"), gb = own(gamma, op, "gamma"), yb = own(dy, op, "dy"), dxb = own(dx, op, "dx");
        B dgb = own(dGamma, op, "dGamma"), dbb = own(dBeta, op, "dBeta");
        String shape = rows + " rows of " + dim;
        needs(op, "x", xb, (long) rows * dim, shape);
        needs(op, "dy", yb, (long) rows * dim, shape);
        needs(op, "dx", dxb, (long) rows * dim, shape);
        needs(op, "gamma", gb, dim, shape);
        needs(op, "dGamma", dgb, dim, shape);
        needs(op, "dBeta", dbb, dim, shape);
        apart(op, 3, new String[] {"x", "gamma", "dy", "dx", "dGamma", "dBeta"}, xb, gb, yb, dxb, dgb, dbb);
        deviceLayerNormBackward(xb, gb, yb, dxb, dgb, dbb, rows, dim, eps);
    }

    @Override public final void tokenMean(int batch, int tokens, int dim, Buffer x, Buffer y) {
        String op = "tokenMean";
        checkTokens(op, batch, tokens, dim);
        B xb = own(x, op, "x"), yb = own(y, op, "y");
        String shape = batch + " x " + tokens + " tokens x " + dim;
        needs(op, "x", xb, (long) batch * tokens * dim, shape);
        needs(op, "y", yb, (long) batch * dim, shape);
        apart(op, 1, new String[] {"x", "y"}, xb, yb);
        if (batch > 0) deviceTokenMean(xb, yb, batch, tokens, dim);
    }

    @Override public final void tokenMeanBackward(int batch, int tokens, int dim, Buffer dy, Buffer dx) {
        String op = "tokenMeanBackward";
        checkTokens(op, batch, tokens, dim);
        B yb = own(dy, op, "dy"), xb = own(dx, op, "dx");
        String shape = batch + " x " + tokens + " tokens x " + dim;
        needs(op, "dy", yb, (long) batch * dim, shape);
        needs(op, "dx", xb, (long) batch * tokens * dim, shape);
        apart(op, 1, new String[] {"dy", "dx"}, yb, xb);
        if (batch > 0) deviceTokenMeanBackward(yb, xb, batch, tokens, dim);
    }

    private static void checkRows(String op, int rows, int dim) {
        if (rows < 0 || dim < 1) throw new IllegalArgumentException(op + ": " + rows + " rows of " + dim + "; expected rows >= 0 and dim >= 1");
    }

    private static void checkTokens(String op, int batch, int tokens, int dim) {
        if (batch < 0 || tokens < 1 || dim < 1) {
            throw new IllegalArgumentException(op + ": batch " + batch + ", tokens " + tokens + ", dim " + dim + "; expected batch >= 0 and the others >= 1");
        }
    }

    /** A buffer of an op must hold at least {@code floats} floats (a kernel would otherwise run past it). */
    private static void needs(String op, String arg, GpuBuffer b, long floats, String shape) {
        if (b.length() < floats) throw new IllegalArgumentException(op + ": " + arg + " has " + b.length() + " floats; " + shape + " needs " + floats);
    }

    /**
     * The arguments from {@code firstOutput} on are outputs: none may overlap another argument (its threads would read
     * what others already wrote). Inputs may share memory (k may be q).
     */
    @SafeVarargs
    private static <T extends GpuBuffer> void apart(String op, int firstOutput, String[] names, T... bufs) {
        for (int o = firstOutput; o < bufs.length; o++) {
            for (int i = 0; i < bufs.length; i++) {
                if (i != o && bufs[o].overlaps(bufs[i])) throw new IllegalArgumentException(op + ": " + names[o] + " overlaps " + names[i]);
            }
        }
    }

    // ---------------------------------------------------------------- training data

    @Override public final void gatherRows(Buffer src, int cols, Buffer indices, Buffer dst) {
        B sb = own(src, "gatherRows", "src"), ib = own(indices, "gatherRows", "indices"), db = own(dst, "gatherRows", "dst");
        long srcRows = checkGather(sb, cols, ib, db);
        if (ib.length() > 0) deviceGatherRows(sb, srcRows, cols, ib, ib.length(), db);
    }

    @Override public final void oneHot(Buffer labels, int classes, Buffer dst) {
        B lb = own(labels, "oneHot", "labels"), db = own(dst, "oneHot", "dst");
        checkOneHot(lb, classes, db);
        if (lb.length() > 0) deviceOneHot(lb, lb.length(), classes, db);
    }

    @Override public final long countCorrect(Buffer outputs, int cols, Buffer labels) {
        B ob = own(outputs, "countCorrect", "outputs"), lb = own(labels, "countCorrect", "labels");
        checkCountCorrect(ob, cols, lb);
        if (lb.length() == 0) return 0;
        double count = deviceCountCorrect(ob, lb, lb.length(), cols);
        if (Double.isNaN(count)) {
            throw new IllegalArgumentException("countCorrect: a label is not a class (0 to " + (cols - 1) + ")");
        }
        return (long) count;
    }

    // ---------------------------------------------------------------- lifecycle

    /** Frees every live allocation (newest first), then the binding's resources; idempotent. */
    @Override public final void close() {
        if (closed) return;
        List<GpuBuffer> roots;
        synchronized (live) {
            roots = new ArrayList<>(live);
            live.clear();
        }
        RuntimeException first = null;
        for (int i = roots.size() - 1; i >= 0; i--) {
            GpuBuffer r = roots.get(i);
            if (!r.markFreed() || r.length() == 0) continue;
            try {
                deviceFree(bufferType.cast(r));
            } catch (RuntimeException e) {
                if (first == null) first = e;
            }
        }
        if (attentionScratch != null) {
            try {
                deviceFree(attentionScratch);
            } catch (RuntimeException e) {
                if (first == null) first = e;
            }
            attentionScratch = null;
        }
        closed = true;
        try {
            deviceClose();
        } catch (RuntimeException e) {
            if (first == null) first = e;
        }
        if (first != null) throw first;
    }

    // ---------------------------------------------------------------- checks

    protected final void checkOpen(String op) {
        if (closed) throw new IllegalStateException(op + ": the " + name() + " backend is closed");
    }

    final void checkLive(GpuBuffer b, String op) {
        checkOpen(op);
        if (!b.isLive()) throw new IllegalStateException(op + ": " + b + " was closed; its device memory is gone");
    }

    /** The buffer {@code arg} of {@code op} as this backend's type, live; otherwise an exception naming both. */
    protected final B own(Buffer b, String op, String arg) {
        Objects.requireNonNull(b, () -> op + ": " + arg + " is null");
        if (!(b instanceof GpuBuffer gb) || gb.backend() != this || !bufferType.isInstance(b)) throw foreign(op, arg, b, this);
        checkLive(gb, op + " (" + arg + ")");
        return bufferType.cast(b);
    }

    private static int columns(String op, GpuBuffer bias) {
        if (bias.length() > Integer.MAX_VALUE) throw new IllegalArgumentException(op + ": " + bias.length() + " columns; at most " + Integer.MAX_VALUE);
        return (int) bias.length();
    }
}
