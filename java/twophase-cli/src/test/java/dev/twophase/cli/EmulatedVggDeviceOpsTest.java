package dev.twophase.cli;

import dev.twophase.backend.Backend;
import dev.twophase.backend.BackendProvider;
import dev.twophase.backend.Backends;
import dev.twophase.backend.Buffer;
import dev.twophase.backend.cpu.CpuBackend;
import dev.twophase.backend.cuda.NativeResources;
import dev.twophase.nn.Models;
import dev.twophase.nn.Network;
import dev.twophase.nn.NetworkRunner;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Proxy;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * VGG5 on the emulated GPU backends: every backend op its forward and backward passes call is
 * one the GPU backend implements itself, none of {@link Backend}'s default methods, which copy
 * the buffers to the host and back (before the conv kernels, im2col, col2im, max pooling and the
 * channels-last transpose all did). The layers' calls are recorded through a proxy in front of
 * the backend. The output and the parameter gradient also follow the CPU backend's: the conv ops
 * are bit-identical to it, so they differ only where GEMM's float sums run in another order (the
 * tiled kernel against OpenBLAS), by a few float ulps: measured 2.3e-7 (output) and 5.7e-8
 * (gradient) of the largest magnitude on both bindings; the bound is 1e-5. Removing GpuBackend's
 * maxPoolBackward makes the test name it.
 */
class EmulatedVggDeviceOpsTest {
    /** Images of 3 x 9 x 10 (odd sides: pooled to 4x5, 2x2, 1x1), a batch of 5, 7 classes. */
    private static final int CHANNELS = 3, HEIGHT = 9, WIDTH = 10, CLASSES = 7, BATCH = 5;
    private static final double BOUND = 1e-5;

    record Pass(float[] output, float[] gradient, Set<Method> calls) { }

    @ParameterizedTest @ValueSource(strings = {"ffm-emu", "jcuda-emu"})
    void vgg5ForwardAndBackwardCallNoHostCopyingDefault(String name) throws Exception {
        Assumptions.assumeTrue(NativeResources.has(NativeResources.EMU_LIBRARY) && NativeResources.has(NativeResources.EMU_DRIVER),
                "the twophase-cuda jar carries no CUDA emulation (built without CMake)");
        Network net = Models.create("vgg5-max-relu", CHANNELS, HEIGHT, WIDTH, CLASSES);
        SplittableRandom rng = new SplittableRandom(9);
        float[] params = net.initialParameters(3), input = random(rng, BATCH * net.inputSize()), dOut = random(rng, BATCH * CLASSES);
        Pass cpu;
        try (CpuBackend be = new CpuBackend(1)) {
            cpu = pass(be, net, params, input, dOut);
        }
        Pass gpu;
        try (Backend be = provider(name).open(1)) {
            gpu = pass(be, net, params, input, dOut);
            List<String> hostCopying = new ArrayList<>();
            for (Method m : gpu.calls()) {
                if (be.getClass().getMethod(m.getName(), m.getParameterTypes()).isDefault()) hostCopying.add(m.getName());
            }
            assertEquals(List.of(), hostCopying, name + ": ops that run Backend's host-copying default");
        }
        Set<String> names = new LinkedHashSet<>();
        for (Method m : gpu.calls()) names.add(m.getName());
        assertTrue(names.containsAll(List.of("batchedTranspose", "im2col", "col2im", "maxPool", "maxPoolBackward")), names.toString());
        assertNear(name + " output", cpu.output(), gpu.output());
        assertNear(name + " parameter gradient", cpu.gradient(), gpu.gradient());
    }

    /** Forward and backward of one batch on {@code be}; the backend ops the layers call are recorded. */
    private static Pass pass(Backend be, Network net, float[] params, float[] input, float[] dOut) {
        Set<Method> calls = new LinkedHashSet<>();
        boolean[] recording = {false};
        Backend recorded = (Backend) Proxy.newProxyInstance(Backend.class.getClassLoader(), new Class<?>[] {Backend.class}, (p, m, args) -> {
            if (recording[0]) calls.add(m);
            try {
                return m.invoke(be, args);
            } catch (InvocationTargetException e) {
                throw e.getCause();
            }
        });
        try (NetworkRunner runner = new NetworkRunner(net, recorded, BATCH); Buffer p = upload(be, params); Buffer x = upload(be, input);
             Buffer g = be.allocate(params.length)) {
            recording[0] = true;
            Buffer out = runner.forward(p, x, BATCH);
            recording[0] = false;
            float[] output = new float[(int) out.length()];
            be.download(out, output);
            be.upload(dOut, runner.outputGradient(BATCH));
            recording[0] = true;
            runner.backward(p, g, x, BATCH);
            recording[0] = false;
            float[] gradient = new float[params.length];
            be.download(g, gradient);
            return new Pass(output, gradient, calls);
        }
    }

    private static BackendProvider provider(String name) {
        for (BackendProvider p : Backends.providers()) if (p.name().equals(name)) return p;
        throw new AssertionError("no backend provider " + name);
    }

    private static Buffer upload(Backend be, float[] a) {
        Buffer b = be.allocate(a.length);
        be.upload(a, b);
        return b;
    }

    private static float[] random(SplittableRandom rng, int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) (2 * rng.nextDouble() - 1);
        return a;
    }

    private static void assertNear(String what, float[] want, float[] got) {
        assertEquals(want.length, got.length, what + ": length");
        double scale = 0, worst = 0;
        for (float v : want) scale = Math.max(scale, Math.abs(v));
        for (int i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs((double) got[i] - want[i]));
        if (!(worst <= BOUND * scale) || scale == 0) fail(what + ": largest difference " + worst + " > " + BOUND + " x " + scale);
    }
}
