package dev.twophase.backend.gpu;

import dev.twophase.backend.AdamScalars;
import dev.twophase.backend.AdamUpdate;
import dev.twophase.backend.Buffer;
import dev.twophase.backend.ConvShape;
import dev.twophase.backend.GradientNorms;
import dev.twophase.backend.HostKernels;
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

        @Override protected void deviceAdam(AdamUpdate u, HostBuffer p, HostBuffer g, HostBuffer m, HostBuffer v, HostBuffer vMax, long n) {
            calls.add("adam " + n + ", " + u.segments() + " segments" + (vMax != null ? ", amsgrad" : ""));
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

        @Override protected boolean deviceSegmentedNorms(HostBuffer g, long[] offsets, double[] sumsq, float[] maxAbs) {
            calls.add("norms " + (offsets.length - 1));
            double total = 0;
            float largest = 0;
            for (int t = 0; t + 1 < offsets.length; t++) {
                double s = 0;
                float max = 0;
                for (long i = offsets[t]; i < offsets[t + 1]; i++) {
                    s += (double) g.mem[g.at(i)] * g.mem[g.at(i)];
                    max = Math.max(max, Math.abs(g.mem[g.at(i)]));
                }
                sumsq[t] = s;
                maxAbs[t] = max;
                total += s;
                largest = Math.max(largest, max);
            }
            sumsq[offsets.length - 1] = total;
            maxAbs[offsets.length - 1] = largest;
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

        @Override protected void deviceIm2col(ConvShape s, HostBuffer x, HostBuffer cols) { calls.add("im2col " + cols.length()); }

        @Override protected void deviceCol2im(ConvShape s, HostBuffer cols, HostBuffer dx) { calls.add("col2im " + dx.length()); }

        @Override protected void deviceMaxPool(ConvShape s, HostBuffer x, HostBuffer y) { calls.add("maxPool " + y.length()); }

        @Override protected void deviceMaxPoolBackward(ConvShape s, HostBuffer x, HostBuffer y, HostBuffer dy, HostBuffer dx) {
            calls.add("maxPoolBackward " + dx.length());
        }

        @Override protected void deviceBatchedTranspose(int batch, int rows, int cols, HostBuffer x, HostBuffer y) {
            calls.add("transpose " + batch + "x" + rows + "x" + cols);
        }

        // attention, layer norm, token mean: host loops of the kernels' formulas
        boolean cublas;

        @Override public boolean usesCublas() { return cublas; }

        @Override protected void deviceBatchedMatmul(BatchedMatmul g, HostBuffer a, HostBuffer b, HostBuffer c) {
            calls.add("batchedMatmul " + g.m() + "x" + g.n() + "x" + g.k() + " " + g.outer() + "x" + g.inner());
            for (int o = 0; o < g.outer(); o++) {
                for (int h = 0; h < g.inner(); h++) {
                    long ao = a.offset() + o * g.strideAOuter() + h * g.strideAInner(), bo = b.offset() + o * g.strideBOuter() + h * g.strideBInner();
                    long co = c.offset() + o * g.strideCOuter() + h * g.strideCInner();
                    for (int i = 0; i < g.m(); i++) {
                        for (int j = 0; j < g.n(); j++) {
                            float s = 0;
                            for (int p = 0; p < g.k(); p++) {
                                s += a.mem[(int) (ao + (g.transA() ? (long) p * g.lda() + i : (long) i * g.lda() + p))]
                                        * b.mem[(int) (bo + (g.transB() ? (long) j * g.ldb() + p : (long) p * g.ldb() + j))];
                            }
                            c.mem[(int) (co + (long) i * g.ldc() + j)] = s * g.alpha();
                        }
                    }
                }
            }
        }

        /** cublasSgemmStridedBatched from its column-major definition: C_t(i, j) = alpha sum_p op(A_t)(i, p) op(B_t)(p, j). */
        @Override protected void deviceCublasSgemmStridedBatched(boolean transA, boolean transB, int m, int n, int k, float alpha,
                                                                 HostBuffer a, long aOffset, int lda, long strideA, HostBuffer b, long bOffset,
                                                                 int ldb, long strideB, HostBuffer c, long cOffset, int ldc, long strideC,
                                                                 int batchCount) {
            calls.add("cublas " + m + "x" + n + "x" + k + " " + batchCount);
            assertTrue(cublas, "cuBLAS called while not loaded");
            for (int t = 0; t < batchCount; t++) {
                long ao = a.offset() + aOffset + t * strideA, bo = b.offset() + bOffset + t * strideB, co = c.offset() + cOffset + t * strideC;
                for (int i = 0; i < m; i++) {
                    for (int j = 0; j < n; j++) {
                        float s = 0;
                        for (int p = 0; p < k; p++) {
                            s += a.mem[(int) (ao + (transA ? p + (long) i * lda : i + (long) p * lda))]
                                    * b.mem[(int) (bo + (transB ? j + (long) p * ldb : p + (long) j * ldb))];
                        }
                        c.mem[(int) (co + i + (long) j * ldc)] = s * alpha;
                    }
                }
            }
        }

        @Override protected void deviceAttentionSoftmax(HostBuffer probs, long rows, int cols) {
            calls.add("attentionSoftmax " + rows + "x" + cols);
            for (long r = 0; r < rows; r++) {
                int at = probs.at(r * cols);
                float max = Float.NEGATIVE_INFINITY;
                for (int j = 0; j < cols; j++) max = Math.max(max, probs.mem[at + j]);
                double z = 0;
                for (int j = 0; j < cols; j++) z += probs.mem[at + j] = (float) Math.exp(probs.mem[at + j] - max);
                float inv = (float) (1 / z);
                for (int j = 0; j < cols; j++) probs.mem[at + j] *= inv;
            }
        }

        @Override protected void deviceAttentionSoftmaxBackward(HostBuffer probs, HostBuffer grad, long rows, int cols, float scale) {
            calls.add("attentionSoftmaxBackward " + rows + "x" + cols);
            for (long r = 0; r < rows; r++) {
                int p = probs.at(r * cols), g = grad.at(r * cols);
                float dot = 0;
                for (int j = 0; j < cols; j++) dot += grad.mem[g + j] * probs.mem[p + j];
                for (int j = 0; j < cols; j++) grad.mem[g + j] = probs.mem[p + j] * (grad.mem[g + j] - dot) * scale;
            }
        }

        @Override protected void deviceLayerNorm(HostBuffer x, HostBuffer gamma, HostBuffer beta, HostBuffer y, long rows, int dim, float eps) {
            calls.add("layerNorm " + rows + "x" + dim);
            HostKernels.layerNorm(HostKernels.SEQUENTIAL, (int) rows, dim, eps, x.mem, x.at(0), gamma.mem, gamma.at(0), beta.mem, beta.at(0),
                    y.mem, y.at(0));
        }

        @Override protected void deviceLayerNormBackward(HostBuffer x, HostBuffer gamma, HostBuffer dy, HostBuffer dx, HostBuffer dGamma,
                                                         HostBuffer dBeta, long rows, int dim, float eps) {
            calls.add("layerNormBackward " + rows + "x" + dim);
            HostKernels.layerNormBackward(HostKernels.SEQUENTIAL, (int) rows, dim, eps, x.mem, x.at(0), gamma.mem, gamma.at(0), dy.mem, dy.at(0),
                    dx.mem, dx.at(0), dGamma.mem, dGamma.at(0), dBeta.mem, dBeta.at(0));
        }

        @Override protected void deviceTokenMean(HostBuffer x, HostBuffer y, long batch, int tokens, int dim) {
            calls.add("tokenMean " + batch + "x" + tokens + "x" + dim);
            HostKernels.tokenMean(HostKernels.SEQUENTIAL, (int) batch, tokens, dim, x.mem, x.at(0), y.mem, y.at(0));
        }

        @Override protected void deviceTokenMeanBackward(HostBuffer dy, HostBuffer dx, long batch, int tokens, int dim) {
            calls.add("tokenMeanBackward " + batch + "x" + tokens + "x" + dim);
            HostKernels.tokenMeanBackward(HostKernels.SEQUENTIAL, (int) batch, tokens, dim, dy.mem, dy.at(0), dx.mem, dx.at(0));
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
            assertEquals(0.0, b.maxAbs(e));
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

    /**
     * The conv ops check every length against the shape and refuse overlapping input and output
     * (a kernel would race); a transpose of vectors is a device copy, an empty one does nothing.
     */
    @Test void convOpsCheckTheirBuffersAgainstTheShape() {
        ConvShape s = new ConvShape(2, 5, 4, 3, 3, 2, 1); // out 3x2, patch 27
        try (HostGpu b = new HostGpu(); Buffer x = b.allocate(120); Buffer cols = b.allocate(2 * 6 * 27); Buffer y = b.allocate(36);
             Buffer dy = b.allocate(36); Buffer dx = b.allocate(120); Buffer big = b.allocate(400)) {
            b.calls.clear();
            b.im2col(s, x, cols);
            b.col2im(s, cols, dx);
            b.maxPool(s, x, y);
            b.maxPoolBackward(s, x, y, dy, dx);
            b.batchedTranspose(4, 5, 6, x, dx);
            assertEquals(List.of("im2col 324", "col2im 120", "maxPool 36", "maxPoolBackward 120", "transpose 4x5x6"), b.calls);

            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> b.im2col(s, x, big.slice(0, 323)));
            assertEquals("im2col: cols has 323 floats; " + s + " needs 324", e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> b.col2im(s, cols, dy), "dx of the wrong length");
            assertThrows(IllegalArgumentException.class, () -> b.maxPool(s, x, dx), "y of the input's length");
            assertThrows(IllegalArgumentException.class, () -> b.maxPoolBackward(s, x, y, dx, dx), "dy of the input's length");
            e = assertThrows(IllegalArgumentException.class, () -> b.im2col(s, big.slice(0, 120), big.slice(76, 324)));
            assertTrue(e.getMessage().startsWith("im2col: x and cols overlap"), e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> b.maxPoolBackward(s, big.slice(0, 120), y, dy, big.slice(119, 120)));
            assertThrows(IllegalArgumentException.class, () -> b.batchedTranspose(2, 3, 20, x, x), "in place");
            assertThrows(IllegalArgumentException.class, () -> b.batchedTranspose(2, 3, 19, x, dx), "lengths");
            assertThrows(IllegalArgumentException.class, () -> b.batchedTranspose(-1, -3, 40, x, dx), "negative sizes");
            assertThrows(NullPointerException.class, () -> b.maxPool(null, x, y));
            ConvShape huge = new ConvShape(1, 65536, 65536, 1, 1, 1, 0);
            e = assertThrows(IllegalArgumentException.class, () -> b.maxPool(huge, x, y));
            assertTrue(e.getMessage().contains("too large for the GPU kernels"), e.getMessage());

            b.calls.clear();
            float[] v = new float[120];
            for (int i = 0; i < v.length; i++) v[i] = i;
            b.upload(v, 0, x);
            b.batchedTranspose(3, 1, 40, x, dx);
            b.batchedTranspose(3, 40, 1, x, dx);
            try (Buffer none = b.allocate(0); Buffer none2 = b.allocate(0)) {
                b.batchedTranspose(0, 7, 9, none, none2);
            }
            assertEquals(List.of("copy 120", "copy 120"), b.calls, "vectors are copied, empty work never reaches the device");
            float[] got = new float[120];
            b.download(dx, got, 0);
            assertArrayEquals(v, got);
        }
    }

    /**
     * GpuBackend's recipe of the attention (the products, their strides and the mapping onto column-major cuBLAS),
     * run on host loops of the kernels' formulas: bit for bit the CPU backend's, through our own product and through
     * cuBLAS's column-major definition (one call per head, the sequence as cuBLAS's batch), which sums the same products
     * in the same order. Without a GPU this is what checks the cuBLAS argument mapping; gpu-check runs the real one.
     */
    @Test void attentionRecipeAndCublasMappingGiveTheCpuBackendsBits() {
        int batch = 3, tokens = 5, heads = 2, headDim = 3, n = batch * tokens * heads * headDim, pn = batch * heads * tokens * tokens;
        java.util.SplittableRandom rng = new java.util.SplittableRandom(5);
        float[][] in = new float[4][n];
        for (float[] a : in) for (int i = 0; i < n; i++) a[i] = (float) (rng.nextDouble() * 4 - 2);
        float[][] want = runAttention(new CpuBackend(1), batch, tokens, heads, headDim, in);
        for (boolean cublas : new boolean[] {false, true}) {
            try (HostGpu b = new HostGpu()) {
                b.cublas = cublas;
                b.calls.clear();
                float[][] got = runAttention(b, batch, tokens, heads, headDim, in);
                String[] what = {"probs", "out", "dq", "dk", "dv"};
                for (int i = 0; i < what.length; i++) assertArrayEquals(want[i], got[i], what[i] + (cublas ? " through cuBLAS's mapping" : ""));
                long products = b.calls.stream().filter(c -> c.startsWith(cublas ? "cublas " : "batchedMatmul ")).count();
                assertEquals(cublas ? 6 * heads : 6, products, "per product one call per head on cuBLAS, one launch otherwise: " + b.calls);
                assertTrue(b.calls.contains("attentionSoftmax " + (long) batch * heads * tokens + "x" + tokens), b.calls.toString());
                b.useCublasForAttention(false);
                assertFalse(b.attentionUsesCublas());
                assertEquals(pn, want[0].length);
            }
        }
    }

    /** Attention forward and backward (q, k, v, dOut in {@code in}); returns probs, out, dq, dk, dv. */
    private static float[][] runAttention(dev.twophase.backend.Backend be, int batch, int tokens, int heads, int headDim, float[][] in) {
        int n = in[0].length, pn = batch * heads * tokens * tokens;
        try (be; Buffer q = be.allocate(n); Buffer k = be.allocate(n); Buffer v = be.allocate(n); Buffer g = be.allocate(n);
             Buffer p = be.allocate(pn); Buffer o = be.allocate(n); Buffer dq = be.allocate(n); Buffer dk = be.allocate(n); Buffer dv = be.allocate(n)) {
            be.upload(in[0], 0, q);
            be.upload(in[1], 0, k);
            be.upload(in[2], 0, v);
            be.upload(in[3], 0, g);
            be.attention(batch, tokens, heads, headDim, q, k, v, p, o);
            be.attentionBackward(batch, tokens, heads, headDim, q, k, v, p, g, dq, dk, dv);
            float[][] out = {new float[pn], new float[n], new float[n], new float[n], new float[n]};
            Buffer[] bufs = {p, o, dq, dk, dv};
            for (int i = 0; i < bufs.length; i++) be.download(bufs[i], out[i], 0);
            return out;
        }
    }

    @Test void attentionLayerNormAndTokenMeanCheckTheirArguments() {
        try (HostGpu b = new HostGpu(); Buffer x = b.allocate(60); Buffer y = b.allocate(60); Buffer p = b.allocate(50); Buffer w = b.allocate(5)) {
            // q, k, v, out: 2 x 5 tokens x 6 = 60 floats; probs 2 x 1 head x 25 = 50
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> b.attention(2, 5, 1, 6, x, x, x, p.slice(0, 49), y));
            assertEquals("attention: probs has 49 floats; 2 x 5 tokens x 1 heads x 6 needs 50", e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> b.attention(2, 5, 1, 6, x, x, x, p, x));
            assertEquals("attention: out overlaps q", e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> b.attention(2, 0, 1, 6, x, x, x, p, y), "no tokens");
            assertThrows(IllegalArgumentException.class, () -> b.attention(-1, 5, 1, 6, x, x, x, p, y));
            assertThrows(IllegalArgumentException.class, () -> b.attention(1, 1, 65536, 65536, x, x, x, p, y), "heads x head dim past an int");
            e = assertThrows(IllegalArgumentException.class, () -> b.attentionBackward(2, 5, 1, 6, x, x, x, p, x, y, y, b.allocate(60)));
            assertEquals("attentionBackward: dq overlaps dk", e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> b.layerNormBackward(12, 5, 1e-5f, x, w, y, y, b.allocate(5), b.allocate(5)));
            assertEquals("layerNormBackward: dx overlaps dy", e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> b.layerNorm(12, 5, 1e-5f, x, w, w, y.slice(1, 59)), "y too short");
            assertThrows(IllegalArgumentException.class, () -> b.layerNorm(12, 5, 1e-5f, x, w, w, x.slice(1, 59)), "y overlaps x, not in place");
            assertThrows(IllegalArgumentException.class, () -> b.layerNorm(12, 0, 1e-5f, x, w, w, y));
            assertThrows(IllegalArgumentException.class, () -> b.tokenMean(2, 5, 6, x, x.slice(0, 12)), "y overlaps x");
            assertThrows(IllegalArgumentException.class, () -> b.tokenMeanBackward(2, 5, 7, y.slice(0, 12), x), "dx too short");

            b.calls.clear();
            b.layerNorm(12, 5, 1e-5f, x, w, w, x); // in place
            b.attention(0, 5, 1, 6, x, x, x, p, y);
            b.tokenMean(0, 5, 6, x, y);
            b.layerNorm(0, 5, 1e-5f, x, w, w, y);
            b.layerNormBackward(0, 5, 1e-5f, x, w, y, b.allocate(0), b.allocate(5), b.allocate(5));
            assertEquals(List.of("layerNorm 12x5", "alloc 5", "alloc 5", "layerNormBackward 0x5"), b.calls,
                    "no sequences or rows: nothing to do, except the gradient of no rows, which adds +0 like the CPU loop");
        }
    }

    @Test void theAttentionScratchIsFreedAtClose() {
        HostGpu b = new HostGpu();
        Buffer x = b.allocate(60), p = b.allocate(50), d = b.allocate(180);
        b.attentionBackward(2, 5, 1, 6, x, x, x, p, x, d.slice(0, 60), d.slice(60, 60), d.slice(120, 60));
        assertTrue(b.calls.contains("alloc 50"), b.calls.toString());
        assertEquals(3, b.liveAllocations(), "the scratch is not a live allocation of the caller");
        b.close();
        assertEquals(4, b.frees);
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
