package dev.twophase.backend.ffm;

import dev.twophase.backend.AdamUpdate;
import dev.twophase.backend.BackendUnavailableException;
import dev.twophase.backend.ConvShape;
import dev.twophase.backend.cuda.CudaAbi;
import dev.twophase.backend.cuda.CudaDriver;
import dev.twophase.backend.cuda.Emulation;
import dev.twophase.backend.cuda.GpuBackend;
import dev.twophase.backend.cuda.GpuBuffer;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.util.ArrayList;
import java.util.List;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_DOUBLE;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The FFM backend: {@code java.lang.foreign} downcalls into libtwophase_cuda.so (its C ABI,
 * {@code cuda/twophase.h}; see {@link TpFunction}), device memory from {@code tp_malloc} held as
 * raw addresses, GEMM through cuBLAS loaded by soname ({@link FfmCublas}) or the library's tiled
 * kernel ({@code tp_sgemm}) when cuBLAS is not installed. Opened {@code emulated}, the same
 * backend ({@code ffm-emu}) calls the same ABI in libtwophase_emu.so, the kernels on twophase's
 * CUDA emulator ({@link dev.twophase.backend.cuda.Emulation}), GEMM always through {@code tp_sgemm}.
 *
 * <p>All work runs in call order on the default stream, as in the JCuda backend: a tp_* call that
 * only queues work (the elementwise ops, GEMM, copies between buffers, fills) returns without
 * waiting; downloads, the reductions that return a value and {@link #synchronize()} wait for all
 * work queued before them (cuda/twophase.h). A kernel that faults while running is therefore
 * reported by the next call that waits, with that call's name and the fault's code
 * ({@link dev.twophase.backend.cuda.CudaException#isKernelFault()}; {@code CUDA_LAUNCH_BLOCKING=1}
 * makes the queuing call report it). Every status code is checked in one place ({@link
 * NativeCall#check}) and becomes a {@link dev.twophase.backend.cuda.CudaException} naming the call
 * and {@code tp_error_string(code)}. The library keeps one scratch buffer per process for
 * reductions; it is released when the last FFM backend on that library closes.
 *
 * <p>Transfers: uploads and downloads are counted by {@link GpuBackend}; what the library copies
 * inside any other call (the results of reductions, the segmented norms' chunk table) is read from
 * its counters ({@code tp_transfer_bytes}) around that call ({@code CountingLibrary}).
 */
public final class FfmBackend extends GpuBackend<FfmBackend.FBuffer> {

    /** Device memory as a raw address (a root from tp_malloc, or a root plus a byte offset). */
    public static final class FBuffer extends GpuBuffer {
        final long address;

        FBuffer(FfmBackend owner, long length, long address) {
            super(owner, length);
            this.address = address;
        }

        FBuffer(FBuffer root, long offset, long length) {
            super(root, offset, length);
            this.address = root.address + offset * Float.BYTES;
        }

        MemorySegment segment() { return MemorySegment.ofAddress(address); }
    }

    /** Floats per host<->device copy: bounds how long one critical downcall holds off the GC. */
    static final int COPY_CHUNK = 1 << 22;

    /** The library itself: opening, releasing, and the copies that {@link GpuBackend} counts. */
    private final TpLibrary tp;
    /** The library as the ops call it: each call's host/device copies count as this backend's transfers. */
    private final CountingLibrary lib = new CountingLibrary();
    /** Where tp_transfer_bytes writes (two longs), reused by every call. */
    private final MemorySegment transferSlots = Arena.ofAuto().allocate(JAVA_LONG, 2);
    private final FfmCublas cublas;
    private final String name;
    private final String description;

    private FfmBackend(TpLibrary lib, FfmCublas cublas, String name, String description) {
        super(FBuffer.class);
        this.tp = lib;
        this.cublas = cublas;
        this.name = name;
        this.description = description;
    }

    /**
     * Opens device 0 through libtwophase_cuda.so.
     *
     * @throws BackendUnavailableException when the library, the driver or a device is missing
     */
    public static FfmBackend open() throws BackendUnavailableException {
        return open(false);
    }

    /**
     * Opens device 0 through libtwophase_cuda.so ({@code ffm}), or with {@code emulated} through
     * libtwophase_emu.so ({@code ffm-emu}: no driver or GPU needed).
     *
     * @throws BackendUnavailableException when the library, the driver or a device is missing
     */
    public static FfmBackend open(boolean emulated) throws BackendUnavailableException {
        if (!emulated) {
            String why = CudaDriver.unavailableReason(); // before extracting and loading anything
            if (why != null) throw new BackendUnavailableException(why);
        }
        TpLibrary lib = TpLibrary.get(emulated ? TpLibrary.Kind.EMULATED : TpLibrary.Kind.CUDA);
        if (emulated) Emulation.configureMemory(lib.lookup());
        int count, runtime, driver;
        String name;
        long totalBytes;
        try (Arena a = Arena.ofConfined()) {
            MemorySegment n = a.allocate(JAVA_INT), rv = a.allocate(JAVA_INT), dv = a.allocate(JAVA_INT);
            lib.check("tp_runtime_version", () -> (int) lib.h(TpFunction.RUNTIME_VERSION).invokeExact(rv));
            lib.check("tp_driver_version", () -> (int) lib.h(TpFunction.DRIVER_VERSION).invokeExact(dv));
            runtime = rv.get(JAVA_INT, 0);
            driver = dv.get(JAVA_INT, 0);
            int rc;
            try {
                rc = (int) lib.h(TpFunction.DEVICE_COUNT).invokeExact(n);
            } catch (Throwable t) {
                throw new BackendUnavailableException("tp_device_count: " + t, t);
            }
            count = n.get(JAVA_INT, 0);
            if (rc == CudaAbi.ERR_INSUFFICIENT_DRIVER && driver == 0) {
                throw new BackendUnavailableException("no NVIDIA driver: libcuda.so.1 cannot be loaded (tp_device_count: error 35, "
                        + lib.errorString(rc) + ")");
            }
            if (rc == CudaAbi.ERR_INSUFFICIENT_DRIVER) {
                throw new BackendUnavailableException("the NVIDIA driver supports CUDA " + version(driver) + ", older than the CUDA "
                        + version(runtime) + " runtime libtwophase_cuda.so is built with (error 35)");
            }
            if (rc != 0) throw new BackendUnavailableException("tp_device_count: error " + rc + " (" + lib.errorString(rc) + ")");
            if (count == 0) throw new BackendUnavailableException("no CUDA device");
            MemorySegment buf = a.allocate(256);
            lib.check("tp_device_name(0)", () -> (int) lib.h(TpFunction.DEVICE_NAME).invokeExact(0, buf, 256));
            name = buf.getString(0);
            MemorySegment free = a.allocate(JAVA_LONG), total = a.allocate(JAVA_LONG);
            lib.check("tp_mem_get_info", () -> (int) lib.h(TpFunction.MEM_GET_INFO).invokeExact(free, total));
            totalBytes = total.get(JAVA_LONG, 0);
        }
        if (emulated) {
            if (!name.equals(Emulation.DEVICE_NAME)) throw new BackendUnavailableException("libtwophase_emu.so reports device '" + name + "'");
            String description = String.format("ffm-emu: %s: %s through FFM (libtwophase_emu.so), %.1f GiB device memory, "
                    + "GEMM: twophase tiled kernel", Emulation.SUMMARY, name, totalBytes / (double) (1L << 30));
            lib.acquire();
            return new FfmBackend(lib, null, "ffm-emu", description);
        }
        List<String> whyNot = new ArrayList<>();
        FfmCublas cublas = FfmCublas.load(whyNot);
        String gemm = cublas != null ? cublas.description() : "twophase tiled kernel (cuBLAS unavailable: " + String.join("; ", whyNot) + ")";
        String description = String.format("ffm: %s (device 0 of %d, %.1f GiB), CUDA runtime %s (static), driver %s, GEMM: %s",
                name, count, totalBytes / (double) (1L << 30), version(runtime), version(driver), gemm);
        lib.acquire();
        return new FfmBackend(lib, cublas, "ffm", description);
    }

    private static String version(int v) { return v / 1000 + "." + v % 1000 / 10; }

    @Override public String name() { return name; }

    @Override public String description() { return description; }

    @Override protected java.lang.foreign.SymbolLookup emulatorLibrary() { return name.endsWith("-emu") ? tp.lookup() : null; }

    /** Whether GEMM goes through cuBLAS (else tp_sgemm). */
    @Override public boolean usesCublas() { return cublas != null; }

    /** Free and total device memory in bytes. */
    @Override public long[] memoryInfo() {
        checkOpen("memoryInfo");
        try (Arena a = Arena.ofConfined()) {
            MemorySegment free = a.allocate(JAVA_LONG), total = a.allocate(JAVA_LONG);
            lib.check("tp_mem_get_info", () -> (int) lib.h(TpFunction.MEM_GET_INFO).invokeExact(free, total));
            return new long[] {free.get(JAVA_LONG, 0), total.get(JAVA_LONG, 0)};
        }
    }

    private static MemorySegment seg(FBuffer b) { return b == null ? MemorySegment.NULL : b.segment(); }

    /**
     * The library's downcalls as the ops make them: {@link #check} reads the library's transfer
     * counters ({@code tp_transfer_bytes}) around each call and adds what it copied between host
     * and device (the results of reductions, tables) to this backend's counts, so every op is
     * counted without knowing whether it copies. Uploads and downloads, which {@link GpuBackend}
     * counts itself, call the library directly.
     */
    private final class CountingLibrary {
        MethodHandle h(TpFunction f) { return tp.h(f); }

        void check(String what, NativeCall call) {
            readCounters();
            long h0 = transferSlots.getAtIndex(JAVA_LONG, 0), d0 = transferSlots.getAtIndex(JAVA_LONG, 1);
            tp.check(what, call);
            readCounters();
            countHostToDevice(transferSlots.getAtIndex(JAVA_LONG, 0) - h0);
            countDeviceToHost(transferSlots.getAtIndex(JAVA_LONG, 1) - d0);
        }

        /** tp_transfer_bytes into transferSlots: bytes host to device, then device to host. */
        private void readCounters() {
            MemorySegment h = transferSlots, d = transferSlots.asSlice(Long.BYTES);
            tp.check("tp_transfer_bytes", () -> (int) tp.h(TpFunction.TRANSFER_BYTES).invokeExact(h, d));
        }
    }

    // ---------------------------------------------------------------- memory

    @Override protected FBuffer deviceEmpty() { return new FBuffer(this, 0, 0L); }

    @Override protected FBuffer deviceAllocate(long length) {
        long bytes = length * Float.BYTES;
        long address;
        try (Arena a = Arena.ofConfined()) {
            MemorySegment slot = a.allocate(ADDRESS);
            lib.check("tp_malloc(" + bytes + " bytes)", () -> (int) lib.h(TpFunction.MALLOC).invokeExact(slot, bytes));
            address = slot.get(ADDRESS, 0).address();
        }
        MemorySegment p = MemorySegment.ofAddress(address);
        try {
            lib.check("tp_memset(" + bytes + " bytes)", () -> (int) lib.h(TpFunction.MEMSET).invokeExact(p, 0, bytes));
        } catch (RuntimeException e) {
            freeQuietly(address);
            throw e;
        }
        return new FBuffer(this, length, address);
    }

    private void freeQuietly(long address) {
        try {
            int ignored = (int) lib.h(TpFunction.FREE).invokeExact(MemorySegment.ofAddress(address));
        } catch (Throwable ignored) {
            // already failing
        }
    }

    @Override protected FBuffer deviceSlice(FBuffer root, long offset, long length) { return new FBuffer(root, offset, length); }

    @Override protected void deviceFree(FBuffer root) {
        MemorySegment p = root.segment();
        lib.check("tp_free(" + root.length() * Float.BYTES + " bytes)", () -> (int) lib.h(TpFunction.FREE).invokeExact(p));
    }

    @Override protected void deviceClose() {
        RuntimeException first = null;
        if (cublas != null) {
            try {
                cublas.close();
            } catch (RuntimeException e) {
                first = e;
            }
        }
        if (tp.release()) {
            try {
                lib.check("tp_release_scratch", () -> (int) lib.h(TpFunction.RELEASE_SCRATCH).invokeExact());
            } catch (RuntimeException e) {
                if (first == null) first = e;
            }
        }
        if (first != null) throw first;
    }

    @Override protected void deviceUpload(float[] src, int srcOffset, FBuffer dst, long n) {
        copyChunks(TpFunction.MEMCPY_HTOD, "tp_memcpy_htod", src, srcOffset, dst.address, n, true);
    }

    @Override protected void deviceDownload(FBuffer src, float[] dst, int dstOffset, long n) {
        copyChunks(TpFunction.MEMCPY_DTOH, "tp_memcpy_dtoh", dst, dstOffset, src.address, n, false);
    }

    /** Host array <-> device memory in {@link #COPY_CHUNK}-float pieces; both tp_memcpy functions take (to, from, bytes). */
    private void copyChunks(TpFunction f, String name, float[] array, int arrayOffset, long deviceAddress, long n, boolean toDevice) {
        MemorySegment heap = MemorySegment.ofArray(array);
        MethodHandle h = tp.h(f);
        for (long done = 0; done < n; done += COPY_CHUNK) {
            long count = Math.min(COPY_CHUNK, n - done);
            MemorySegment host = heap.asSlice((arrayOffset + done) * Float.BYTES, count * Float.BYTES);
            MemorySegment device = MemorySegment.ofAddress(deviceAddress + done * Float.BYTES);
            MemorySegment to = toDevice ? device : host, from = toDevice ? host : device;
            tp.check(name + "(" + count + " floats)", () -> (int) h.invokeExact(to, from, count * Float.BYTES));
        }
    }

    @Override protected void deviceCopy(FBuffer src, FBuffer dst, long n) {
        MemorySegment s = src.segment(), d = dst.segment();
        lib.check("tp_memcpy_dtod(" + n + " floats)", () -> (int) lib.h(TpFunction.MEMCPY_DTOD).invokeExact(d, s, n * Float.BYTES));
    }

    @Override protected void deviceFill(FBuffer dst, float value, long n) {
        int bits = Float.floatToRawIntBits(value);
        if (bits == 0) {
            MemorySegment d = dst.segment();
            lib.check("tp_memset(" + n + " floats)", () -> (int) lib.h(TpFunction.MEMSET).invokeExact(d, 0, n * Float.BYTES));
            return;
        }
        // no 32-bit memset in the ABI: fill one float, then double the filled prefix with device copies
        float[] one = {value};
        deviceUpload(one, 0, dst, 1);
        countHostToDevice(Float.BYTES);
        for (long filled = 1; filled < n; filled *= 2) {
            long count = Math.min(filled, n - filled);
            MemorySegment from = dst.segment(), to = MemorySegment.ofAddress(dst.address + filled * Float.BYTES);
            lib.check("tp_memcpy_dtod(fill, " + count + " floats)", () -> (int) lib.h(TpFunction.MEMCPY_DTOD).invokeExact(to, from, count * Float.BYTES));
        }
    }

    @Override protected void deviceSynchronize() {
        lib.check("tp_synchronize", () -> (int) lib.h(TpFunction.SYNCHRONIZE).invokeExact());
    }

    // ---------------------------------------------------------------- optimizer vector ops

    @Override protected void deviceAdam(AdamUpdate u, FBuffer p, FBuffer g, FBuffer m, FBuffer v, FBuffer vMax, long n) {
        int segments = u.segments();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment off = a.allocateFrom(JAVA_LONG, u.offsets()), table = a.allocateFrom(JAVA_FLOAT, CudaAbi.adamScalarTable(u));
            MemorySegment ps = p.segment(), gs = g.segment(), ms = m.segment(), vs = v.segment(), xs = seg(vMax);
            lib.check("tp_adam_step(n=" + n + ", " + segments + " segments" + (vMax != null ? ", AMSGrad" : "") + ")",
                    () -> (int) lib.h(TpFunction.ADAM_STEP).invokeExact(ps, gs, ms, vs, xs, n, off, table, segments, MemorySegment.NULL));
        }
    }

    @Override protected void deviceMultiDot(FBuffer x, FBuffer[] ys, long n, double[] out, int outOffset) {
        int k = ys.length;
        try (Arena a = Arena.ofConfined()) {
            MemorySegment ptrs = a.allocate(ADDRESS, k), dots = a.allocate(JAVA_DOUBLE, k);
            for (int j = 0; j < k; j++) ptrs.setAtIndex(ADDRESS, j, ys[j].segment());
            MemorySegment xs = x.segment();
            lib.check("tp_multi_dot(k=" + k + ", n=" + n + ")", () -> (int) lib.h(TpFunction.MULTI_DOT).invokeExact(xs, ptrs, k, n, dots));
            for (int j = 0; j < k; j++) out[outOffset + j] = dots.getAtIndex(JAVA_DOUBLE, j);
        }
    }

    @Override protected void deviceCgDirection(FBuffer d, FBuffer g, FBuffer gPrev, long n, float beta) {
        MemorySegment ds = d.segment(), gs = g.segment(), ps = gPrev.segment();
        lib.check("tp_cg_direction(n=" + n + ")", () -> (int) lib.h(TpFunction.CG_DIRECTION).invokeExact(ds, gs, ps, n, beta));
    }

    @Override protected void deviceTrialPoint(FBuffer x, FBuffer x0, FBuffer d, long n, float alpha) {
        MemorySegment xs = x.segment(), x0s = x0.segment(), ds = d.segment();
        lib.check("tp_trial_point", () -> (int) lib.h(TpFunction.TRIAL_POINT).invokeExact(xs, x0s, ds, n, alpha));
    }

    @Override protected void deviceAxpy(float a, FBuffer x, FBuffer y, long n) {
        MemorySegment xs = x.segment(), ys = y.segment();
        lib.check("tp_axpy(n=" + n + ")", () -> (int) lib.h(TpFunction.AXPY).invokeExact(a, xs, ys, n));
    }

    @Override protected boolean deviceSegmentedNorms(FBuffer g, long[] offsets, double[] sumsq, float[] maxAbs) {
        int tensors = offsets.length - 1;
        try (Arena a = Arena.ofConfined()) {
            MemorySegment off = a.allocateFrom(JAVA_LONG, offsets);
            MemorySegment sums = a.allocate(JAVA_DOUBLE, tensors + 1), maxima = a.allocate(JAVA_FLOAT, tensors + 1), flag = a.allocate(JAVA_INT);
            MemorySegment gs = g.segment();
            lib.check("tp_segmented_norms(" + tensors + " tensors)", () -> (int) lib.h(TpFunction.SEGMENTED_NORMS)
                    .invokeExact(gs, off, tensors, sums, maxima, flag, MemorySegment.NULL));
            for (int t = 0; t <= tensors; t++) {
                sumsq[t] = sums.getAtIndex(JAVA_DOUBLE, t);
                maxAbs[t] = maxima.getAtIndex(JAVA_FLOAT, t);
            }
            return flag.get(JAVA_INT, 0) != 0;
        }
    }

    // ---------------------------------------------------------------- model ops

    @Override protected void deviceGemm(boolean transA, boolean transB, int m, int n, int k, float alpha, FBuffer a, int lda,
                                        FBuffer b, int ldb, float beta, FBuffer c, int ldc) {
        if (cublas != null) {
            cublas.sgemm(transA, transB, m, n, k, alpha, a.address, lda, b.address, ldb, beta, c.address, ldc);
            return;
        }
        MemorySegment as = a.segment(), bs = b.segment(), cs = c.segment();
        int ta = transA ? 1 : 0, tb = transB ? 1 : 0;
        lib.check("tp_sgemm(" + m + "x" + n + "x" + k + ")", () -> (int) lib.h(TpFunction.SGEMM)
                .invokeExact(ta, tb, m, n, k, alpha, as, lda, bs, ldb, beta, cs, ldc));
    }

    @Override protected void deviceAddBias(FBuffer y, FBuffer bias, long rows, int cols) {
        MemorySegment ys = y.segment(), bs = bias.segment();
        lib.check("tp_add_bias(" + rows + "x" + cols + ")", () -> (int) lib.h(TpFunction.ADD_BIAS).invokeExact(ys, bs, rows, cols));
    }

    @Override protected void deviceBiasGradient(FBuffer dy, FBuffer dBias, long rows, int cols) {
        MemorySegment ys = dy.segment(), bs = dBias.segment();
        lib.check("tp_bias_grad(" + rows + "x" + cols + ")", () -> (int) lib.h(TpFunction.BIAS_GRAD).invokeExact(ys, bs, rows, cols));
    }

    @Override protected void deviceActivation(int act, FBuffer x, FBuffer y, long n) {
        MemorySegment xs = x.segment(), ys = y.segment();
        lib.check("tp_activation(" + act + ", n=" + n + ")", () -> (int) lib.h(TpFunction.ACTIVATION).invokeExact(act, xs, ys, n));
    }

    @Override protected void deviceActivationBackward(int act, FBuffer x, FBuffer y, FBuffer dy, FBuffer dx, long n) {
        MemorySegment xs = x.segment(), ys = y.segment(), gys = dy.segment(), gxs = dx.segment();
        lib.check("tp_activation_backward(" + act + ", n=" + n + ")", () -> (int) lib.h(TpFunction.ACTIVATION_BACKWARD)
                .invokeExact(act, xs, ys, gys, gxs, n));
    }

    @Override protected double deviceSquaredError(FBuffer out, FBuffer target, float gradScale, FBuffer dOut, long n) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment loss = a.allocate(JAVA_DOUBLE), os = out.segment(), ts = target.segment(), gs = seg(dOut);
            lib.check("tp_squared_error(n=" + n + ")", () -> (int) lib.h(TpFunction.SQUARED_ERROR)
                    .invokeExact(os, ts, n, gradScale, gs, loss));
            return loss.get(JAVA_DOUBLE, 0);
        }
    }

    @Override protected double deviceSoftmaxCrossEntropy(FBuffer logits, FBuffer target, long rows, int cols, float gradScale,
                                                         FBuffer dOut) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment loss = a.allocate(JAVA_DOUBLE), ls = logits.segment(), ts = target.segment(), gs = seg(dOut);
            lib.check("tp_softmax_cross_entropy(" + rows + "x" + cols + ")", () -> (int) lib.h(TpFunction.SOFTMAX_CROSS_ENTROPY)
                    .invokeExact(ls, ts, rows, cols, gradScale, gs, loss));
            return loss.get(JAVA_DOUBLE, 0);
        }
    }

    // ---------------------------------------------------------------- conv ops

    @Override protected void deviceIm2col(ConvShape s, FBuffer x, FBuffer cols) {
        MemorySegment xs = x.segment(), cs = cols.segment();
        lib.check("tp_im2col(" + s + ")", () -> (int) lib.h(TpFunction.IM2COL).invokeExact(xs, cs, s.batch(), s.height(), s.width(),
                s.channels(), s.kernel(), s.stride(), s.pad()));
    }

    @Override protected void deviceCol2im(ConvShape s, FBuffer cols, FBuffer dx) {
        MemorySegment cs = cols.segment(), ds = dx.segment();
        lib.check("tp_col2im(" + s + ")", () -> (int) lib.h(TpFunction.COL2IM).invokeExact(cs, ds, s.batch(), s.height(), s.width(),
                s.channels(), s.kernel(), s.stride(), s.pad()));
    }

    @Override protected void deviceMaxPool(ConvShape s, FBuffer x, FBuffer y) {
        MemorySegment xs = x.segment(), ys = y.segment();
        lib.check("tp_max_pool(" + s + ")", () -> (int) lib.h(TpFunction.MAX_POOL).invokeExact(xs, ys, s.batch(), s.height(), s.width(),
                s.channels(), s.kernel(), s.stride(), s.pad()));
    }

    @Override protected void deviceMaxPoolBackward(ConvShape s, FBuffer x, FBuffer y, FBuffer dy, FBuffer dx) {
        MemorySegment xs = x.segment(), ys = y.segment(), gys = dy.segment(), gxs = dx.segment();
        lib.check("tp_max_pool_backward(" + s + ")", () -> (int) lib.h(TpFunction.MAX_POOL_BACKWARD).invokeExact(xs, ys, gys, gxs,
                s.batch(), s.height(), s.width(), s.channels(), s.kernel(), s.stride(), s.pad()));
    }

    @Override protected void deviceBatchedTranspose(int batch, int rows, int cols, FBuffer x, FBuffer y) {
        MemorySegment xs = x.segment(), ys = y.segment();
        lib.check("tp_batched_transpose(" + batch + "x" + rows + "x" + cols + ")", () -> (int) lib.h(TpFunction.BATCHED_TRANSPOSE)
                .invokeExact(xs, ys, batch, rows, cols));
    }

    // ---------------------------------------------------------------- attention, layer norm, token mean

    @Override protected void deviceBatchedMatmul(BatchedMatmul g, FBuffer a, FBuffer b, FBuffer c) {
        MemorySegment as = a.segment(), bs = b.segment(), cs = c.segment();
        int ta = g.transA() ? 1 : 0, tb = g.transB() ? 1 : 0;
        lib.check("tp_batched_matmul(" + g.m() + "x" + g.n() + "x" + g.k() + ", " + g.outer() + " x " + g.inner() + ")", () -> (int) lib
                .h(TpFunction.BATCHED_MATMUL).invokeExact(ta, tb, g.m(), g.n(), g.k(), g.alpha(), as, g.lda(), g.strideAOuter(),
                        g.strideAInner(), bs, g.ldb(), g.strideBOuter(), g.strideBInner(), cs, g.ldc(), g.strideCOuter(),
                        g.strideCInner(), (long) g.outer(), g.inner()));
    }

    @Override protected void deviceCublasSgemmStridedBatched(boolean transA, boolean transB, int m, int n, int k, float alpha,
                                                             FBuffer a, long aOffset, int lda, long strideA, FBuffer b, long bOffset,
                                                             int ldb, long strideB, FBuffer c, long cOffset, int ldc, long strideC,
                                                             int batchCount) {
        cublas.sgemmStridedBatched(transA, transB, m, n, k, alpha, a.address + aOffset * Float.BYTES, lda, strideA,
                b.address + bOffset * Float.BYTES, ldb, strideB, c.address + cOffset * Float.BYTES, ldc, strideC, batchCount);
    }

    @Override protected void deviceAttentionSoftmax(FBuffer probs, long rows, int cols) {
        MemorySegment ps = probs.segment();
        lib.check("tp_attention_softmax(" + rows + "x" + cols + ")", () -> (int) lib.h(TpFunction.ATTENTION_SOFTMAX).invokeExact(ps, rows, cols));
    }

    @Override protected void deviceAttentionSoftmaxBackward(FBuffer probs, FBuffer grad, long rows, int cols, float scale) {
        MemorySegment ps = probs.segment(), gs = grad.segment();
        lib.check("tp_attention_softmax_backward(" + rows + "x" + cols + ")", () -> (int) lib.h(TpFunction.ATTENTION_SOFTMAX_BACKWARD)
                .invokeExact(ps, gs, rows, cols, scale));
    }

    @Override protected void deviceLayerNorm(FBuffer x, FBuffer gamma, FBuffer beta, FBuffer y, long rows, int dim, float eps) {
        MemorySegment xs = x.segment(), gs = gamma.segment(), bs = beta.segment(), ys = y.segment();
        lib.check("tp_layer_norm(" + rows + "x" + dim + ")", () -> (int) lib.h(TpFunction.LAYER_NORM).invokeExact(xs, gs, bs, ys, rows, dim, eps));
    }

    @Override protected void deviceLayerNormBackward(FBuffer x, FBuffer gamma, FBuffer dy, FBuffer dx, FBuffer dGamma, FBuffer dBeta,
                                                     long rows, int dim, float eps) {
        MemorySegment xs = x.segment(), gs = gamma.segment(), ys = dy.segment(), dxs = dx.segment(), dgs = dGamma.segment(),
                dbs = dBeta.segment();
        lib.check("tp_layer_norm_backward(" + rows + "x" + dim + ")", () -> (int) lib.h(TpFunction.LAYER_NORM_BACKWARD)
                .invokeExact(xs, gs, ys, dxs, dgs, dbs, rows, dim, eps));
    }

    @Override protected void deviceTokenMean(FBuffer x, FBuffer y, long batch, int tokens, int dim) {
        MemorySegment xs = x.segment(), ys = y.segment();
        lib.check("tp_token_mean(" + batch + "x" + tokens + "x" + dim + ")", () -> (int) lib.h(TpFunction.TOKEN_MEAN)
                .invokeExact(xs, ys, batch, tokens, dim));
    }

    @Override protected void deviceTokenMeanBackward(FBuffer dy, FBuffer dx, long batch, int tokens, int dim) {
        MemorySegment ys = dy.segment(), xs = dx.segment();
        lib.check("tp_token_mean_backward(" + batch + "x" + tokens + "x" + dim + ")", () -> (int) lib.h(TpFunction.TOKEN_MEAN_BACKWARD)
                .invokeExact(ys, xs, batch, tokens, dim));
    }

    // ---------------------------------------------------------------- training data

    @Override protected void deviceGatherRows(FBuffer src, long srcRows, int cols, FBuffer indices, long rows, FBuffer dst) {
        MemorySegment ss = src.segment(), is = indices.segment(), ds = dst.segment();
        lib.check("tp_gather_rows(" + rows + " of " + srcRows + " rows x " + cols + ")", () -> (int) lib.h(TpFunction.GATHER_ROWS)
                .invokeExact(ss, srcRows, cols, is, rows, ds));
    }

    @Override protected void deviceOneHot(FBuffer labels, long rows, int classes, FBuffer dst) {
        MemorySegment ls = labels.segment(), ds = dst.segment();
        lib.check("tp_one_hot(" + rows + "x" + classes + ")", () -> (int) lib.h(TpFunction.ONE_HOT).invokeExact(ls, rows, classes, ds));
    }

    @Override protected double deviceCountCorrect(FBuffer outputs, FBuffer labels, long rows, int cols) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment count = a.allocate(JAVA_DOUBLE), os = outputs.segment(), ls = labels.segment();
            lib.check("tp_count_correct(" + rows + "x" + cols + ")", () -> (int) lib.h(TpFunction.COUNT_CORRECT)
                    .invokeExact(os, ls, rows, cols, count));
            return count.get(JAVA_DOUBLE, 0);
        }
    }
}
