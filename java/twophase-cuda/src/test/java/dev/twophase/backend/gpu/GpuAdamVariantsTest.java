package dev.twophase.backend.gpu;

import dev.twophase.backend.Buffer;
import dev.twophase.backend.cpu.CpuBackend;
import dev.twophase.backend.gpu.GpuBackendBaseTest.HostGpu;
import dev.twophase.optim.Adam;
import dev.twophase.optim.AdamConfig;
import dev.twophase.tensor.ParameterLayout;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/**
 * What GpuBackend sends to the device for the Adam variants (one fused call per step for every
 * variant: the segment table and AMSGrad's maximum go with it), and the shared transfer and
 * ownership checks, on the host stand-in. The kernels' results: GpuAdamParityTest.
 */
class GpuAdamVariantsTest {
    static final ParameterLayout LAYOUT = ParameterLayout.builder().add("w", 4, 3).add("b", 3).build();

    @Test
    void oneSegmentRunsOnTheExistingKernel() {
        try (HostGpu gpu = new HostGpu();
             Adam adam = new Adam(gpu, LAYOUT, AdamConfig.adamW().withWeightDecay("b", AdamConfig.adamW().weightDecay()))) {
            Buffer p = gpu.allocate(15), g = gpu.allocate(15);
            gpu.fill(g, 0.5f);
            assertFalse(adam.step(p, g).skipped());
            assertTrue(gpu.calls.contains("adam 15, 1 segments"), "rules that give every tensor the same decay merge into one segment: " + gpu.calls);
        }
    }

    @Test
    void amsgradAndPerTensorScalarsAreOneDeviceCallPerStep() {
        try (HostGpu gpu = new HostGpu()) {
            Buffer p = gpu.allocate(15), g = gpu.allocate(15);
            gpu.fill(g, 0.5f);
            try (Adam adam = new Adam(gpu, LAYOUT, AdamConfig.adam().withAmsgrad(true))) {
                gpu.calls.clear();
                assertFalse(adam.step(p, g).skipped());
                assertEquals(1, adam.stepCount());
                assertEquals(1, gpu.calls.stream().filter(c -> c.startsWith("adam")).count(), gpu.calls.toString());
                assertTrue(gpu.calls.contains("adam 15, 1 segments, amsgrad"), gpu.calls.toString());
            }
            try (Adam adam = new Adam(gpu, LAYOUT, AdamConfig.adamW().withWeightDecay("b", 0).withAmsgrad(true))) {
                gpu.calls.clear();
                assertFalse(adam.step(p, g).skipped());
                assertEquals(List.of("norms 2", "adam 15, 2 segments, amsgrad"), gpu.calls);
            }
        }
    }

    @Test
    void transfersAndOwnershipAreCheckedLikeTheCpuBackend() {
        try (HostGpu gpu = new HostGpu(); CpuBackend cpu = new CpuBackend(1)) {
            Buffer x = gpu.allocate(12);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> gpu.upload(new float[13], x));
            assertEquals("upload: src has 13 floats from offset 0, dst has 12; the lengths must be equal (the form with a length copies part of an array)",
                    e.getMessage());
            assertThrows(IndexOutOfBoundsException.class, () -> gpu.download(x, new float[11]));
            e = assertThrows(IllegalArgumentException.class, () -> gpu.copy(cpu.allocate(12), x));
            assertEquals("copy: src belongs to another backend (cpu), expected this hostgpu backend", e.getMessage());
            float[] back = new float[20];
            gpu.upload(new float[]{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14}, 2, 12, x);
            gpu.download(x, back, 4, 12);
            assertEquals(3f, back[4]);
            assertEquals(14f, back[15]);
            assertEquals(0f, back[16]);
        }
    }
}
