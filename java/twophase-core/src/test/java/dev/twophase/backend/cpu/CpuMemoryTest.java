package dev.twophase.backend.cpu;

import dev.twophase.backend.AdamScalars;
import dev.twophase.backend.AdamUpdate;
import dev.twophase.backend.Activation;
import dev.twophase.backend.Buffer;
import dev.twophase.backend.GradientNorms;
import dev.twophase.backend.VectorBackend;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.reflect.Proxy;
import java.util.Random;
import java.util.function.Function;

import static dev.twophase.backend.cpu.CpuBackendTest.down;
import static dev.twophase.backend.cpu.CpuBackendTest.random;
import static dev.twophase.backend.cpu.CpuBackendTest.up;
import static org.junit.jupiter.api.Assertions.*;

/**
 * The CPU backend on the caller's memory (wrapped arrays and memory segments, zero-copy), and the
 * memory contract: exact lengths, errors that name the op and the argument, closed objects.
 */
class CpuMemoryTest {
    static CpuBackend cpu;

    @BeforeAll static void open() { cpu = new CpuBackend(3); }

    @AfterAll static void close() { cpu.close(); }

    @Test
    void wrappedArraysAreUpdatedInPlace() {
        Random r = new Random(3);
        int n = 70_001;
        float[] p = random(r, n), g = random(r, n);
        float[] pCopy = p.clone();
        Buffer P = cpu.wrap(p), G = cpu.wrap(g), M = cpu.allocate(n), V = cpu.allocate(n);
        AdamScalars s = AdamScalars.forStep(1, 1e-2, 0.9, 0.999, 1e-8, 0, false, 1);
        cpu.adamStep(s, P, G, M, V);
        Buffer Q = up(cpu, pCopy), M2 = cpu.allocate(n), V2 = cpu.allocate(n);
        cpu.adamStep(s, Q, up(cpu, g), M2, V2);
        assertArrayEquals(down(Q), p, "the caller's array holds the update, bit for bit as an allocated buffer");
        float[] part = new float[10];
        Buffer W = cpu.wrap(part, 2, 5);
        cpu.fill(W, 1.5f);
        assertArrayEquals(new float[]{0, 0, 1.5f, 1.5f, 1.5f, 1.5f, 1.5f, 0, 0, 0}, part);
        float[] viaSegment = new float[8];
        cpu.fill(cpu.wrap(MemorySegment.ofArray(viaSegment).asSlice(4, 12)), 2f);
        assertArrayEquals(new float[]{0, 2, 2, 2, 0, 0, 0, 0}, viaSegment, "a heap segment of a float[] is that array");
    }

    /** Each layout of the same data: allocated arrays, slices at odd offsets, native segments (shared and confined arenas), a byte[] heap segment. */
    enum Kind { ARRAY, SLICE, NATIVE_SHARED, NATIVE_CONFINED, BYTE_HEAP }

    static Buffer make(Arena arena, Kind kind, float[] data) {
        int n = data.length;
        return switch (kind) {
            case ARRAY -> up(cpu, data);
            case SLICE -> {
                Buffer big = cpu.allocate(n + 7);
                Buffer s = big.slice(3, n);
                cpu.upload(data, s);
                yield s;
            }
            case NATIVE_SHARED, NATIVE_CONFINED -> {
                // Three floats in, at an address that is not 16-byte aligned.
                MemorySegment seg = arena.allocate((long) (n + 5) * Float.BYTES + 2).asSlice(3 * Float.BYTES + 2, (long) n * Float.BYTES);
                MemorySegment.copy(data, 0, seg, ValueLayout.JAVA_FLOAT_UNALIGNED, 0, n);
                yield cpu.wrap(seg);
            }
            case BYTE_HEAP -> {
                MemorySegment seg = MemorySegment.ofArray(new byte[n * Float.BYTES]);
                MemorySegment.copy(data, 0, seg, ValueLayout.JAVA_FLOAT_UNALIGNED, 0, n);
                yield cpu.wrap(seg);
            }
        };
    }

    /** Every optimizer and memory op gives the same bits on every kind of memory, on sizes that cross chunks and staged pieces. */
    @ParameterizedTest @ValueSource(ints = {1, 5, 1023, 1025, 70_003})
    void everyVectorOpGivesTheSameBitsOnEveryKindOfMemory(int n) {
        float[][] results = null;
        for (Kind kind : Kind.values()) {
            try (Arena arena = kind == Kind.NATIVE_CONFINED ? Arena.ofConfined() : Arena.ofShared()) {
                Random r = new Random(n);
                float[] p = random(r, n), g = random(r, n), m = random(r, n), v = random(r, n), vm = random(r, n);
                for (int i = 0; i < n; i++) { v[i] = Math.abs(v[i]); vm[i] = Math.abs(vm[i]) * (i % 2); }
                Function<float[], Buffer> mk = a -> make(arena, kind, a);
                Buffer P = mk.apply(p), G = mk.apply(g), M = mk.apply(m), V = mk.apply(v), VM = mk.apply(vm), D = mk.apply(new float[n]);
                AdamScalars a = AdamScalars.forStep(4, 1e-2, 0.9, 0.99, 1e-8, 0.05, false, 0.75);
                AdamScalars b = AdamScalars.forStep(4, 1e-2, 0.9, 0.99, 1e-8, 0, false, 0.75);
                cpu.adamStep(new AdamUpdate(new long[]{0, n / 2, n}, new AdamScalars[]{a, b}), P, G, M, V, VM);
                cpu.adamStep(a, P, G, M, V);
                double[] dots = new double[2];
                cpu.multiDot(P, new Buffer[]{G, M}, dots);
                cpu.cgDirection(D, G, V, 0.25);
                cpu.trialPoint(M, P, D, -0.5);
                cpu.axpy(0.125f, G, P);
                GradientNorms norms = cpu.segmentedNorms(P, new long[]{0, n / 3, n / 3, n});
                Buffer C = mk.apply(new float[n]);
                cpu.copy(P, C);
                cpu.fill(G, -3f);
                cpu.upload(g, 0, n, G);
                float[] got = {(float) dots[0], (float) dots[1], (float) norms.totalSumOfSquares(), (float) norms.sumOfSquares()[2]};
                float[][] now = {down(P), down(M), down(V), down(VM), down(D), down(C), down(G), got,
                        {(float) (dots[0] - (float) dots[0]), (float) (norms.totalSumOfSquares() - (float) norms.totalSumOfSquares())}};
                if (results == null) results = now;
                else for (int k = 0; k < now.length; k++) assertArrayEquals(results[k], now[k], kind + ", result " + k);
                assertArrayEquals(g, down(G));
            }
        }
    }

    @Test
    void wrappedSegmentsServeTheOptimizerOpsButNotTheModelOps() {
        try (Arena arena = Arena.ofConfined()) {
            Buffer s = cpu.wrap(arena.allocate(64));
            Buffer a = cpu.allocate(16);
            assertMessage(IllegalArgumentException.class, () -> cpu.activation(Activation.TANH, a, s),
                    "activation: y wraps a memory segment (cpu buffer of 16 floats (wrapping a native segment of 64 bytes)); "
                            + "the cpu backend's model ops need array-backed buffers (allocate, or wrap a float[])");
            assertMessage(IllegalArgumentException.class, () -> cpu.wrap(arena.allocate(10)), "wrap: the segment has 10 bytes, not a whole number of floats");
            assertMessage(IllegalArgumentException.class, () -> cpu.wrap(arena.allocate(8).asReadOnly()), "wrap: the segment is read-only");
        }
        Buffer gone;
        try (Arena arena = Arena.ofConfined()) {
            gone = cpu.wrap(arena.allocate(8));
        }
        assertThrows(IllegalStateException.class, () -> cpu.fill(gone, 1f), "a segment whose arena closed is refused by FFM itself");
    }

    @Test
    void transfersRequireExactLengths() {
        Buffer b = cpu.allocate(12);
        assertMessage(IndexOutOfBoundsException.class, () -> cpu.upload(new float[11], b), "upload: src has 11 floats from offset 0, dst has 12");
        assertMessage(IllegalArgumentException.class, () -> cpu.upload(new float[13], b),
                "upload: src has 13 floats from offset 0, dst has 12; the lengths must be equal");
        assertMessage(IndexOutOfBoundsException.class, () -> cpu.upload(new float[12], 1, b), "upload: src has 11 floats from offset 1, dst has 12");
        assertMessage(IndexOutOfBoundsException.class, () -> cpu.upload(new float[12], 13, b), "upload: src offset 13 is outside an array of 12 floats");
        assertMessage(IndexOutOfBoundsException.class, () -> cpu.upload(new float[20], 10, 12, b), "upload: src range [10, 22) is outside an array of 20 floats");
        assertMessage(IllegalArgumentException.class, () -> cpu.upload(new float[20], 0, 11, b), "upload: 11 floats of src for dst of 12 floats; the lengths must be equal");
        assertMessage(IndexOutOfBoundsException.class, () -> cpu.download(b, new float[11]), "download: dst has 11 floats from offset 0, src has 12");
        assertMessage(IllegalArgumentException.class, () -> cpu.download(b, new float[30], 5), "download: dst has 25 floats from offset 5, src has 12");
        float[] into = new float[30];
        cpu.fill(b, 4f);
        cpu.download(b, into, 5, 12);
        assertEquals(0f, into[4]);
        assertEquals(4f, into[5]);
        assertEquals(4f, into[16]);
        assertEquals(0f, into[17]);
        assertMessage(IllegalArgumentException.class, () -> cpu.axpy(1f, b, cpu.allocate(13)), "axpy: y has 13 floats, x has 12");
        assertMessage(IllegalArgumentException.class,
                () -> cpu.adamStep(AdamUpdate.uniform(AdamScalars.forStep(1, 1e-3, 0.9, 0.999, 1e-8, 0, false, 1), 12), b, b, b, cpu.allocate(11), null),
                "adamStep: expAvgSq has 11 floats, param has 12");
    }

    @Test
    void foreignBuffersAreNamedWithTheirBackend() {
        try (CpuBackend other = new CpuBackend(1, false)) {
            Buffer theirs = other.allocate(4);
            assertMessage(IllegalArgumentException.class, () -> cpu.upload(new float[4], theirs),
                    "upload: dst belongs to another cpu backend instance, expected this cpu backend");
        }
        VectorBackend ffm = (VectorBackend) Proxy.newProxyInstance(getClass().getClassLoader(), new Class<?>[]{VectorBackend.class},
                (proxy, method, args) -> method.getName().equals("name") ? "ffm" : null);
        Buffer gpuBuffer = new Buffer() {
            @Override public long length() { return 4; }
            @Override public Buffer slice(long offset, long length) { return this; }
            @Override public VectorBackend backend() { return ffm; }
            @Override public void close() { }
        };
        assertMessage(IllegalArgumentException.class, () -> cpu.copy(cpu.allocate(4), gpuBuffer), "copy: dst belongs to another backend (ffm), expected this cpu backend");
        assertMessage(NullPointerException.class, () -> cpu.fill(null, 0f), "fill: dst is null");
    }

    @Test
    void closedBuffersAndBackendsRefuseUse() {
        Buffer b = cpu.allocate(8), slice = b.slice(2, 3);
        b.close();
        assertMessage(IllegalStateException.class, () -> cpu.fill(slice, 1f), "fill: dst was closed: cpu buffer of 3 floats (at 2 of allocated)");
        assertMessage(IllegalStateException.class, () -> cpu.download(b, new float[8]), "download: src was closed");
        CpuBackend gone = new CpuBackend(2);
        Buffer x = gone.allocate(4);
        gone.close();
        gone.close();
        assertMessage(IllegalStateException.class, () -> gone.allocate(1), "allocate: this cpu backend is closed");
        assertMessage(IllegalStateException.class, () -> gone.wrap(new float[1]), "wrap: this cpu backend is closed");
        assertMessage(IllegalStateException.class, () -> gone.multiDot(x, new Buffer[]{x}, new double[1]), "multiDot: this cpu backend is closed");
        assertMessage(IllegalStateException.class, () -> gone.maxAbs(x), "maxAbs: this cpu backend is closed");
        assertTrue(gone.description().startsWith("cpu: 2 threads"), "description still answers: " + gone.description());
    }

    @Test
    void gradientNormsPrintTheirNorms() {
        GradientNorms g = new GradientNorms(new double[]{9, 16}, 25, false);
        assertEquals("GradientNorms[total=5.0, tensors=[3.0, 4.0], nonFinite=false]", g.toString());
        assertEquals(g, new GradientNorms(new double[]{9, 16}, 25, false));
        GradientNorms many = new GradientNorms(new double[10], 0, true);
        assertTrue(many.toString().contains("... 2 more"), many.toString());
    }

    static void assertMessage(Class<? extends Throwable> type, Executable e, String start) {
        Throwable t = assertThrows(type, e);
        assertTrue(t.getMessage() != null && t.getMessage().startsWith(start), "message: " + t.getMessage() + "\nexpected to start with: " + start);
    }
}
