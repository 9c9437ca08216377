package dev.twophase.backend.gpu;

import dev.twophase.backend.AdamScalars;
import dev.twophase.backend.Buffer;
import dev.twophase.backend.GradientNorms;
import dev.twophase.backend.Transfers;
import dev.twophase.backend.cpu.CpuBackend;
import dev.twophase.backend.cuda.CudaException;
import dev.twophase.backend.cuda.GpuBackend;
import dev.twophase.backend.cuda.HostFallbackException;
import dev.twophase.backend.cuda.GpuBuffer;
import dev.twophase.backend.cuda.OneLine;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The part of the GPU backends that runs without a GPU: {@link GpuBackend}'s bookkeeping and
 * argument handling, driven through a host-memory stand-in for a device. It records what reaches
 * the "device" so the tests can check what the base class sends there (never empty work, multi-dot
 * in groups of at most four, overlapping copies through a temporary, frees exactly once).
 */
class GpuBackendBaseTest {

    /** Device memory stand-in: one float[] per root allocation. */
    static final class HostBuffer extends GpuBuffer {
        final float[] mem;

        HostBuffer(HostGpu owner, long length) {
            super(owner, length);
            mem = new float[(int) length];
        }

        HostBuffer(HostBuffer root, long offset, long length) {
            super(root, offset, length);
            mem = root.mem;
        }

        int at(long i) { return (int) (offset() + i); }
    }

    /** A GpuBackend whose device ops are plain loops on host arrays, logging each call. */
    static final class HostGpu extends GpuBackend<HostBuffer> {
        final List<String> calls = new ArrayList<>();
        int frees;

        HostGpu() { super(HostBuffer.class); }

        @Override public String name() { return "hostgpu"; }

        @Override public String description() { return "host stand-in"; }

        @Override public long[] memoryInfo() { return new long[] {0, 0}; }

        @Override protected HostBuffer deviceEmpty() { return new HostBuffer(this, 0); }

        @Override protected HostBuffer deviceAllocate(long length) {
            calls.add("alloc " + length);
            return new HostBuffer(this, length);
        }

        @Override protected HostBuffer deviceSlice(HostBuffer root, long offset, long length) { return new HostBuffer(root, offset, length); }

        @Override protected void deviceFree(HostBuffer root) {
            calls.add("free " + root.length());
            frees++;
        }

        @Override protected void deviceClose() { calls.add("close"); }

        @Override protected void deviceUpload(float[] src, int srcOffset, HostBuffer dst, long n) {
            System.arraycopy(src, srcOffset, dst.mem, dst.at(0), (int) n);
        }

        @Override protected void deviceDownload(HostBuffer src, float[] dst, int dstOffset, long n) {
            System.arraycopy(src.mem, src.at(0), dst, dstOffset, (int) n);
        }

        @Override protected void deviceCopy(HostBuffer src, HostBuffer dst, long n) {
            assertFalse(src.overlaps(dst), "deviceCopy must never see overlapping ranges");
            calls.add("copy " + n);
            System.arraycopy(src.mem, src.at(0), dst.mem, dst.at(0), (int) n);
        }

        @Override protected void deviceFill(HostBuffer dst, float value, long n) {
            Arrays.fill(dst.mem, dst.at(0), dst.at(n), value);
        }

        @Override protected void deviceSynchronize() { calls.add("sync"); }

        @Override protected void deviceAdam(AdamScalars s, HostBuffer p, HostBuffer g, HostBuffer m, HostBuffer v, long n) {
            calls.add("adam " + n);
        }

        @Override protected void deviceMultiDot(HostBuffer x, HostBuffer[] ys, long n, double[] out, int outOffset) {
            assertTrue(ys.length >= 1 && ys.length <= 4, "at most MAX_DOTS per device call");
            calls.add("multiDot " + ys.length + " @" + outOffset);
            for (int j = 0; j < ys.length; j++) {
                double s = 0;
                for (long i = 0; i < n; i++) s += (double) x.mem[x.at(i)] * ys[j].mem[ys[j].at(i)];
                out[outOffset + j] = s;
            }
        }

        @Override protected void deviceCgDirection(HostBuffer d, HostBuffer g, HostBuffer gPrev, long n, float beta) {
            calls.add("cgDirection " + beta);
        }

        @Override protected void deviceTrialPoint(HostBuffer x, HostBuffer x0, HostBuffer d, long n, float alpha) {
            calls.add("trialPoint " + alpha);
        }

        @Override protected void deviceAxpy(float a, HostBuffer x, HostBuffer y, long n) { calls.add("axpy"); }

        @Override protected boolean deviceSegmentedNorms(HostBuffer g, long[] offsets, double[] sumsq) {
            calls.add("norms " + (offsets.length - 1));
            double total = 0;
            for (int t = 0; t + 1 < offsets.length; t++) {
                double s = 0;
                for (long i = offsets[t]; i < offsets[t + 1]; i++) s += (double) g.mem[g.at(i)] * g.mem[g.at(i)];
                sumsq[t] = s;
                total += s;
            }
            sumsq[offsets.length - 1] = total;
            return !Double.isFinite(total);
        }

        @Override protected void deviceGemm(boolean transA, boolean transB, int m, int n, int k, float alpha, HostBuffer a, int lda,
                                            HostBuffer b, int ldb, float beta, HostBuffer c, int ldc) {
            calls.add("gemm " + m + "x" + n + "x" + k);
        }

        @Override protected void deviceAddBias(HostBuffer y, HostBuffer bias, long rows, int cols) { calls.add("addBias " + rows + "x" + cols); }

        @Override protected void deviceBiasGradient(HostBuffer dy, HostBuffer dBias, long rows, int cols) {
            calls.add("biasGradient " + rows + "x" + cols);
        }

        @Override protected void deviceActivation(int act, HostBuffer x, HostBuffer y, long n) { calls.add("activation " + act); }

        @Override protected void deviceActivationBackward(int act, HostBuffer x, HostBuffer y, HostBuffer dy, HostBuffer dx, long n) {
            calls.add("activationBackward " + act);
        }

        @Override protected double deviceSquaredError(HostBuffer out, HostBuffer target, float gradScale, HostBuffer dOut, long n) {
            calls.add("squaredError " + (dOut != null));
            return 1.5;
        }

        @Override protected double deviceSoftmaxCrossEntropy(HostBuffer logits, HostBuffer target, long rows, int cols, float gradScale,
                                                             HostBuffer dOut) {
            calls.add("softmax " + rows + "x" + cols);
            return 2.5;
        }

        @Override protected void deviceGatherRows(HostBuffer src, long srcRows, int cols, HostBuffer indices, long rows, HostBuffer dst) {
            calls.add("gatherRows " + rows + " of " + srcRows + "x" + cols);
        }

        @Override protected void deviceOneHot(HostBuffer labels, long rows, int classes, HostBuffer dst) {
            calls.add("oneHot " + rows + "x" + classes);
        }

        @Override protected double deviceCountCorrect(HostBuffer outputs, HostBuffer labels, long rows, int cols) {
            calls.add("countCorrect " + rows + "x" + cols);
            return labels.mem[labels.at(0)] < 0 ? Double.NaN : 3;
        }
    }

    /** GpuBackend's own accounting: uploads and downloads count their bytes; empty data ops reach no device; a NaN count is a bad label. */
    @Test void transfersAndDataOpsAtTheGpuBackendLevel() {
        try (HostGpu b = new HostGpu()) {
            Buffer x = b.allocate(6), idx = b.allocate(0), dst = b.allocate(0);
            b.upload(new float[] {1, 2, 3, 4, 5, 6}, x);
            b.download(x, new float[6]);
            b.download(x.slice(1, 2), new float[2]);
            assertEquals(new Transfers(24, 32), b.transfers());
            b.calls.clear();
            b.gatherRows(x, 3, idx, dst);
            b.oneHot(idx, 4, dst);
            assertEquals(0, b.countCorrect(dst, 4, idx));
            assertEquals(List.of(), b.calls, "no rows: nothing reaches the device");
            try (Buffer labels = b.allocate(2)) {
                b.upload(new float[] {1, 0}, labels);
                assertEquals(3, b.countCorrect(x, 3, labels));
                b.upload(new float[] {-1, 0}, labels);
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> b.countCorrect(x, 3, labels));
                assertEquals("countCorrect: a label is not a class (0 to 2)", e.getMessage());
            }
            assertThrows(HostFallbackException.class, () -> b.hostRead(x));
            b.close();
            assertThrows(IllegalStateException.class, b::transfers);
        }
    }

    /** A fault of a running kernel surfaces at the next call that waits; the message says so, other errors do not. */
    @Test void kernelFaultsSayWhereTheyCameFrom() {
        CudaException fault = new CudaException("tp_multi_dot(k=1, n=10)", 700, "an illegal memory access was encountered");
        assertTrue(fault.isKernelFault());
        assertTrue(fault.getMessage().startsWith("tp_multi_dot(k=1, n=10) failed: error 700 (an illegal memory access was encountered); "
                + "a kernel queued before this call faulted"), fault.getMessage());
        assertTrue(fault.getMessage().contains("CUDA_LAUNCH_BLOCKING=1"), fault.getMessage());
        for (CudaException e : new CudaException[] {new CudaException("cuMemAlloc(4 bytes)", 2, "out of memory"),
                new CudaException("cublasSgemm(2x2x2)", 716, "CUBLAS_STATUS_?")}) {
            assertFalse(e.isKernelFault(), e.getMessage());
            assertFalse(e.getMessage().contains("queued"), e.getMessage());
        }
        assertTrue(new CudaException("cuMemcpyDtoH(1 doubles)", 719, "CUDA_ERROR_LAUNCH_FAILED").isKernelFault());
    }

    @Test void allocationsAreFreedOnceAndAllAtClose() {
        HostGpu b = new HostGpu();
        Buffer x = b.allocate(10), y = b.allocate(20), empty = b.allocate(0);
        Buffer s = x.slice(2, 5);
        assertEquals(3, b.liveAllocations());
        assertEquals(30, b.liveFloats());
        s.close();
        assertEquals(0, b.frees, "a slice's close frees nothing");
        x.close();
        x.close();
        assertEquals(1, b.frees, "a root is freed once");
        assertThrows(IllegalStateException.class, () -> b.fill(s, 1f), "slice of a freed root");
        assertThrows(IllegalStateException.class, () -> s.slice(0, 1));
        b.close();
        assertEquals(List.of("free 20", "close"), b.calls.subList(b.calls.size() - 2, b.calls.size()), "close frees the rest, then the binding");
        assertEquals(2, b.frees, "the empty allocation owns no device memory");
        assertEquals(0, b.liveAllocations());
        assertDoesNotThrow(y::close);
        assertDoesNotThrow(empty::close);
        assertEquals(2, b.frees);
        assertThrows(IllegalStateException.class, () -> b.allocate(1));
        b.close(); // idempotent
    }

    @Test void emptyWorkNeverReachesTheDevice() {
        try (HostGpu b = new HostGpu(); Buffer e = b.allocate(0)) {
            b.calls.clear();
            b.fill(e, 1f);
            b.copy(e, e);
            b.adamStep(AdamScalars.forStep(1, 1e-3, 0.9, 0.999, 1e-8, 0, false, 1), e, e, e, e);
            b.cgDirection(e, e, e, 0.5);
            b.trialPoint(e, e, e, 0.5);
            b.axpy(1f, e, e);
            b.activation(dev.twophase.backend.Activation.GELU, e, e);
            b.activationBackward(dev.twophase.backend.Activation.GELU, e, e, e, e);
            assertEquals(0.0, b.squaredError(e, e, 1f, e));
            assertEquals(0.0, b.softmaxCrossEntropy(e, e, 7, 1f, null));
            GradientNorms norms = b.segmentedNorms(e, new long[] {0, 0, 0});
            assertEquals(0.0, norms.totalSumOfSquares());
            assertEquals(2, norms.tensorCount());
            double[] out = {9, 9};
            b.multiDot(e, new Buffer[] {e, e}, out);
            assertArrayEquals(new double[] {0, 0}, out);
            b.gemm(false, false, 0, 3, 0, 1f, e, 1, e, 3, 0f, e, 3);
            assertEquals(List.of(), b.calls, "nothing reaches the device");
            b.accumulateBiasGradient(e, b.allocate(3));
            assertTrue(b.calls.contains("biasGradient 0x3"), "rows = 0 still adds +0 to dBias, like the CPU loop: " + b.calls);
        }
    }

    @Test void multiDotIsSplitIntoGroupsOfFour() {
        try (HostGpu b = new HostGpu(); CpuBackend cpu = new CpuBackend(1)) {
            int n = 33, k = 9;
            float[] xs = new float[n];
            for (int i = 0; i < n; i++) xs[i] = i * 0.5f - 3;
            Buffer x = b.allocate(n), cx = cpu.allocate(n);
            b.upload(xs, 0, x);
            cpu.upload(xs, 0, cx);
            Buffer[] ys = new Buffer[k], cys = new Buffer[k];
            for (int j = 0; j < k; j++) {
                float[] y = new float[n];
                for (int i = 0; i < n; i++) y[i] = (i + 1) * (j - 4);
                ys[j] = b.allocate(n);
                b.upload(y, 0, ys[j]);
                cys[j] = cpu.allocate(n);
                cpu.upload(y, 0, cys[j]);
            }
            b.calls.clear();
            double[] out = new double[k + 1], want = new double[k];
            out[k] = -1;
            b.multiDot(x, ys, out);
            cpu.multiDot(cx, cys, want);
            assertEquals(List.of("multiDot 4 @0", "multiDot 4 @4", "multiDot 1 @8"), b.calls);
            assertArrayEquals(want, Arrays.copyOf(out, k));
            assertEquals(-1, out[k]);
        }
    }

    @Test void overlappingCopiesGoThroughATemporaryLikeArraycopy() {
        try (HostGpu b = new HostGpu(); Buffer a = b.allocate(100)) {
            float[] data = new float[100];
            for (int i = 0; i < 100; i++) data[i] = i;
            b.upload(data, 0, a);
            b.calls.clear();
            b.copy(a.slice(0, 50), a.slice(10, 50));
            float[] want = data.clone();
            System.arraycopy(want, 0, want, 10, 50);
            float[] got = new float[100];
            b.download(a, got, 0);
            assertArrayEquals(want, got);
            assertEquals(List.of("alloc 50", "copy 50", "copy 50", "free 50"), b.calls);
            b.calls.clear();
            b.copy(a.slice(0, 10), a.slice(10, 10)); // adjacent, not overlapping
            assertEquals(List.of("copy 10"), b.calls);
            b.calls.clear();
            b.copy(a.slice(5, 10), a.slice(5, 10)); // the same range: nothing to do
            assertEquals(List.of(), b.calls);
        }
    }

    @Test void argumentsAreCheckedLikeTheCpuBackend() {
        try (HostGpu b = new HostGpu(); CpuBackend cpu = new CpuBackend(1); Buffer x = b.allocate(12); Buffer y = b.allocate(13);
             Buffer c = cpu.allocate(12)) {
            assertThrows(IllegalArgumentException.class, () -> b.copy(c, x), "a buffer of another backend");
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> b.trialPoint(x, x, y, 1));
            assertEquals("trialPoint: d has 13 floats, x has 12", e.getMessage());
            assertThrows(IndexOutOfBoundsException.class, () -> b.upload(new float[12], 1, x));
            assertThrows(IndexOutOfBoundsException.class, () -> b.download(x, new float[11], 0));
            assertThrows(IllegalArgumentException.class, () -> b.multiDot(x, new Buffer[] {x, x}, new double[1]));
            assertThrows(IllegalArgumentException.class, () -> b.segmentedNorms(x, new long[] {0}));
            assertThrows(IllegalArgumentException.class, () -> b.segmentedNorms(x, new long[] {0, 11}));
            assertThrows(IllegalArgumentException.class, () -> b.segmentedNorms(x, new long[] {1, 12}));
            assertThrows(IllegalArgumentException.class, () -> b.segmentedNorms(x, new long[] {0, 8, 4, 12}));
            assertThrows(IllegalArgumentException.class, () -> b.addBias(x, b.allocate(5)));
            assertThrows(IllegalArgumentException.class, () -> b.softmaxCrossEntropy(x, x, 5, 1f, null));
            assertThrows(IllegalArgumentException.class, () -> b.softmaxCrossEntropy(x, x, 0, 1f, null));
            assertThrows(IllegalArgumentException.class, () -> b.squaredError(x, x, 1f, y));
            assertThrows(IllegalArgumentException.class, () -> b.gemm(false, false, 3, 4, 1, 1f, x, 0, x, 4, 0f, x, 4), "lda < k");
            assertThrows(IllegalArgumentException.class, () -> b.gemm(false, false, 3, 5, 1, 1f, x, 1, x, 5, 0f, x, 5), "C too small");
            assertThrows(IllegalArgumentException.class, () -> b.gemm(false, false, -1, 4, 1, 1f, x, 1, x, 4, 0f, x, 4));

            b.calls.clear();
            b.gemm(true, false, 3, 4, 1, 1f, x, 3, x, 4, 0f, x, 4);
            b.addBias(x, b.allocate(4));
            assertEquals(2.5, b.softmaxCrossEntropy(x, x, 6, 1f, y.slice(0, 12)));
            assertEquals(1.5, b.squaredError(x, y.slice(1, 12), 1f, null));
            b.cgDirection(x, x, x, 0.1);
            b.activation(dev.twophase.backend.Activation.SIGMOID, x, x);
            assertEquals(List.of("gemm 3x4x1", "alloc 4", "addBias 3x4", "softmax 2x6", "squaredError false", "cgDirection 0.1", "activation 3"),
                    b.calls, "doubles are rounded to float once; activation codes are TP_ACT_*");
            float[] v = new float[12];
            v[3] = Float.NaN;
            b.upload(v, 0, x);
            assertTrue(b.segmentedNorms(x, new long[] {0, 5, 12}).nonFinite());
        }
    }

    @Test void reasonsAreOneShortLine() {
        assertEquals("a b c", OneLine.of("a\n  b\r\n\tc  "));
        assertEquals(OneLine.MAX, OneLine.of("x".repeat(1000)).length());
        assertEquals("no NVIDIA driver: libcuda.so.1 cannot be loaded",
                OneLine.describe(new UnsatisfiedLinkError("Error while loading native library \"JCudaDriver\"\nlibcuda.so.1: cannot open shared object file")));
        assertEquals("libcublas.so.12 cannot be loaded (cuBLAS not installed)",
                OneLine.describe(new UnsatisfiedLinkError("libcublas.so.12: cannot open shared object file: No such file or directory")));
        assertEquals("IllegalStateException: boom", OneLine.describe(new RuntimeException("wrapper", new IllegalStateException("boom"))));
    }
}
