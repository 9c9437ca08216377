package dev.twophase.backend.cuda;

import static dev.twophase.backend.BufferChecks.*;

import dev.twophase.backend.Activation;
import dev.twophase.backend.AdamScalars;
import dev.twophase.backend.AdamUpdate;
import dev.twophase.backend.Backend;
import dev.twophase.backend.Buffer;
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
    /** Bytes copied host to device and device to host (see {@link #transfers()}). */
    private long hostToDevice, deviceToHost;
    /** Whether {@link Backend}'s host-copy layer methods may run (see {@link #allowHostFallback}). */
    private boolean hostFallbackAllowed;
    private long hostFallbackCopies;
    private final Set<String> hostFallbackOps = new LinkedHashSet<>();

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

    protected abstract void deviceAdam(AdamScalars s, B p, B g, B m, B v, long n);

    /** {@code out[outOffset + j] = x . ys[j]} for {@code 1 <= ys.length <= MAX_DOTS}. */
    protected abstract void deviceMultiDot(B x, B[] ys, long n, double[] out, int outOffset);

    protected abstract void deviceCgDirection(B d, B g, B gPrev, long n, float beta);

    protected abstract void deviceTrialPoint(B x, B x0, B d, long n, float alpha);

    protected abstract void deviceAxpy(float a, B x, B y, long n);

    /**
     * Segmented sums of squares: {@code sumsq[t]} per tensor and {@code sumsq[tensors]} the total;
     * returns the non-finite flag. Offsets are validated, g is not empty.
     */
    protected abstract boolean deviceSegmentedNorms(B g, long[] offsets, double[] sumsq);

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

    /** The ops that ran through host copies, in the order they first did. */
    public final Set<String> hostFallbackOps() { return java.util.Collections.unmodifiableSet(new LinkedHashSet<>(hostFallbackOps)); }

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
        hostFallbackOps.add(op);
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

    /**
     * The existing kernel applies one set of scalars to the whole buffer without AMSGrad; the
     * fused kernel over a segment table (per-tensor weight decay) and AMSGrad's maximum is still
     * to come, so those variants are refused rather than split into many launches.
     */
    @Override public final void adamStep(AdamUpdate u, Buffer param, Buffer grad, Buffer expAvg, Buffer expAvgSq, Buffer maxExpAvgSq) {
        B p = own(param, "adamStep", "param"), g = own(grad, "adamStep", "grad"), m = own(expAvg, "adamStep", "expAvg"), v = own(expAvgSq, "adamStep", "expAvgSq");
        if (maxExpAvgSq != null) own(maxExpAvgSq, "adamStep", "maxExpAvgSq");
        checkAdam(u, p, g, m, v, maxExpAvgSq);
        if (maxExpAvgSq != null) throw new UnsupportedOperationException("adamStep: the " + name() + " backend has no AMSGrad kernel yet (use the cpu backend)");
        if (u.segments() > 1) {
            throw new UnsupportedOperationException("adamStep: the " + name() + " backend has no kernel for per-tensor Adam scalars yet ("
                    + u.segments() + " segments, from weight decay by tensor; use the cpu backend)");
        }
        if (p.length() > 0) deviceAdam(u.scalars(0), p, g, m, v, p.length());
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
        boolean nonFinite = gb.length() > 0 && deviceSegmentedNorms(gb, offsets, sums);
        return new GradientNorms(Arrays.copyOf(sums, tensors), sums[tensors], nonFinite);
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
