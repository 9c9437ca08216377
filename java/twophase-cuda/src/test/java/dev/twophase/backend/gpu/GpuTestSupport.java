package dev.twophase.backend.gpu;

import dev.twophase.backend.Backend;
import dev.twophase.backend.BackendProvider;
import dev.twophase.backend.BackendUnavailableException;
import dev.twophase.backend.Backends;
import dev.twophase.backend.Buffer;
import dev.twophase.backend.cpu.CpuBackend;
import dev.twophase.backend.cuda.CudaDriver;
import dev.twophase.backend.cuda.NativeResources;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.params.provider.Arguments;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Opens the GPU backends once per test class and compares their results with the CPU backend's.
 * A GPU backend that cannot run here makes its tests skip (JUnit assumption) with the provider's
 * one-line reason, so a machine without a GPU reports them as skipped, not failed. Every test
 * runs on the emulated backends too (the kernels on twophase's CUDA emulator, through the same
 * two bindings), which run on any machine. The NVIDIA-driver backends come first: in one JVM
 * JCuda binds to the first libcuda.so.1, so on a GPU machine jcuda-emu skips itself.
 */
final class GpuTestSupport implements AutoCloseable {
    /**
     * The backends every GPU test runs on: all four, or those listed in the system property
     * {@code twophase.test.gpuBackends} (scripts/gpu-check runs only jcuda and ffm on a GPU machine,
     * where the emulated driver must not be loaded before the NVIDIA driver).
     */
    static final List<String> GPU_BACKENDS = selected();

    /** The backends that need the NVIDIA driver. */
    static final List<String> DEVICE_BACKENDS = List.of("jcuda", "ffm");

    /** The selected backends on the CUDA emulator. */
    static final List<String> EMULATED_BACKENDS = GPU_BACKENDS.stream().filter(b -> b.endsWith("-emu")).toList();

    private static List<String> selected() {
        String p = System.getProperty("twophase.test.gpuBackends");
        if (p == null || p.isBlank()) return List.of("jcuda", "ffm", "jcuda-emu", "ffm-emu");
        return Arrays.stream(p.split(",")).map(String::trim).filter(b -> !b.isEmpty()).toList();
    }

    /** Skips the calling test unless the emulated backend {@code name} is selected. */
    static void assumeSelected(String name) {
        Assumptions.assumeTrue(GPU_BACKENDS.contains(name), () -> name + " is not among twophase.test.gpuBackends=" + GPU_BACKENDS);
    }

    /** The GPU backends' names, for {@code @MethodSource("dev.twophase.backend.gpu.GpuTestSupport#gpuBackends")}. */
    static Stream<String> gpuBackends() { return GPU_BACKENDS.stream(); }

    /** Every case once per GPU backend: the arguments (backend name, case). */
    static Stream<Arguments> perBackend(Object... cases) {
        return GPU_BACKENDS.stream().flatMap(b -> Arrays.stream(cases).map(c -> Arguments.of(b, c)));
    }

    private final Map<String, Backend> open = new LinkedHashMap<>();
    private final Map<String, String> reasons = new LinkedHashMap<>();
    final CpuBackend cpu = new CpuBackend(2);

    /** The backend named {@code name}, or a skipped test saying why it is unavailable. */
    Backend gpu(String name) {
        if (!open.containsKey(name) && !reasons.containsKey(name)) {
            try {
                open.put(name, provider(name).open(1));
            } catch (BackendUnavailableException e) {
                reasons.put(name, e.getMessage());
            }
        }
        Backend b = open.get(name);
        if (b == null) unavailable(name, reasons.get(name));
        return b;
    }

    /**
     * A backend that cannot open: a skipped test, except an emulated backend on a machine without
     * the NVIDIA driver whose libraries the jar carries, which must open (there nothing but a
     * defect keeps it from running, and skipping would hide that every GPU test went untested).
     */
    static void unavailable(String name, String reason) {
        boolean mustRun = name.endsWith("-emu") && NativeResources.has(NativeResources.EMU_LIBRARY)
                && NativeResources.has(NativeResources.EMU_DRIVER) && CudaDriver.unavailableReason() != null;
        if (mustRun) fail(name + " must run here (no NVIDIA driver, emulator libraries in the jar) but is unavailable: " + reason);
        Assumptions.abort(name + " backend unavailable: " + reason);
    }

    static BackendProvider provider(String name) {
        for (BackendProvider p : Backends.providers()) if (p.name().equals(name)) return p;
        throw new AssertionError("no provider named " + name + " (META-INF/services not on the class path?)");
    }

    @Override public void close() {
        for (Backend b : open.values()) b.close();
        open.clear();
        cpu.close();
    }

    // ---------------------------------------------------------------- data

    static float[] random(SplittableRandom rng, int n, float scale) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            float mag = 0.001f + 0.999f * (float) rng.nextDouble();
            a[i] = rng.nextBoolean() ? mag * scale : -mag * scale;
        }
        return a;
    }

    static Buffer upload(Backend b, float[] data) {
        Buffer buf = b.allocate(data.length);
        b.upload(data, 0, buf);
        return buf;
    }

    static float[] download(Backend b, Buffer buf) {
        float[] out = new float[Math.toIntExact(buf.length())];
        b.download(buf, out, 0);
        return out;
    }

    // ---------------------------------------------------------------- comparisons

    /**
     * Every element identical to the bit, except that any NaN matches any NaN (a GPU writes the
     * canonical NaN where x86 propagates an operand's payload).
     */
    static void assertBits(String what, float[] expected, float[] actual) {
        assertEquals(expected.length, actual.length, what + ": length");
        int bad = 0, first = -1;
        for (int i = 0; i < expected.length; i++) {
            boolean bothNaN = Float.isNaN(expected[i]) && Float.isNaN(actual[i]);
            if (!bothNaN && Float.floatToRawIntBits(expected[i]) != Float.floatToRawIntBits(actual[i])) {
                if (first < 0) first = i;
                bad++;
            }
        }
        if (bad > 0) {
            fail(what + ": " + bad + " of " + expected.length + " elements differ in their bits; first at " + first + ": cpu "
                    + expected[first] + " gpu " + actual[first]);
        }
    }

    /** |actual - expected| <= abs + rel * |expected| everywhere (NaN only where both are NaN). */
    static void assertClose(String what, float[] expected, float[] actual, double abs, double rel) {
        assertEquals(expected.length, actual.length, what + ": length");
        int bad = 0, first = -1;
        for (int i = 0; i < expected.length; i++) {
            if (!close(expected[i], actual[i], abs, rel)) {
                if (first < 0) first = i;
                bad++;
            }
        }
        if (bad > 0) {
            fail(what + ": " + bad + " of " + expected.length + " elements outside abs " + abs + " + rel " + rel + "; first at " + first
                    + ": cpu " + expected[first] + " gpu " + actual[first]);
        }
    }

    static boolean close(double expected, double actual, double abs, double rel) {
        if (Double.isNaN(expected) || Double.isNaN(actual)) return Double.isNaN(expected) && Double.isNaN(actual);
        if (expected == actual) return true;
        return Math.abs(actual - expected) <= abs + rel * Math.abs(expected);
    }

    static void assertClose(String what, double expected, double actual, double abs, double rel) {
        if (!close(expected, actual, abs, rel)) {
            fail(what + ": cpu " + expected + " gpu " + actual + " (abs " + abs + ", rel " + rel + ")");
        }
    }

    /** Distance in units in the last place between two floats (huge across signs or for one NaN). */
    static long ulps(float a, float b) {
        if (Float.isNaN(a) || Float.isNaN(b)) return Float.isNaN(a) && Float.isNaN(b) ? 0 : Long.MAX_VALUE;
        int ia = Float.floatToRawIntBits(a), ib = Float.floatToRawIntBits(b);
        long la = ia < 0 ? (long) Integer.MIN_VALUE - ia : ia, lb = ib < 0 ? (long) Integer.MIN_VALUE - ib : ib;
        return Math.abs(la - lb);
    }
}
