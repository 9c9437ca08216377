package dev.twophase.cli;

import dev.twophase.backend.Activation;
import dev.twophase.backend.Backend;
import dev.twophase.backend.BackendProvider;
import dev.twophase.backend.Backends;
import dev.twophase.backend.cpu.CpuBackend;
import dev.twophase.backend.cuda.CudaGeometry;
import dev.twophase.backend.cuda.GpuBackend;
import dev.twophase.backend.cuda.HostFallbackException;
import dev.twophase.backend.cuda.NativeResources;
import dev.twophase.data.Dataset;
import dev.twophase.nn.Loss;
import dev.twophase.nn.Models;
import dev.twophase.nn.Network;
import dev.twophase.optim.AdamConfig;
import dev.twophase.optim.CgConfig;
import dev.twophase.optim.NormMeasure;
import dev.twophase.optim.SwitchRule;
import dev.twophase.train.EpochRecord;
import dev.twophase.train.Progress;
import dev.twophase.train.RunResult;
import dev.twophase.train.TrainSettings;
import dev.twophase.train.Trainer;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The paper's five models (VGG5 and the four ViTs) and the main job's MLP, on 1x8x8 images (the
 * smallest VGG5 and the ViTs accept), trained for a short run, one Adam epoch of 4 mini-batches then one CG epoch, on
 * both emulated GPU backends ({@code ffm-emu}, {@code jcuda-emu}) against the CPU backend, with
 * the GPU backend as it is by default: Backend's host-copying layer methods refused. Three things
 * are checked per model and backend:
 *
 * <p><b>No host round trip.</b> The forward and backward passes never run an op through host
 * copies: the backend would throw {@link HostFallbackException}, and its count of such copies
 * stays 0.
 *
 * <p><b>Only indices and scalars move.</b> Per epoch (training and evaluation), with n training
 * samples, T parameter tensors and C chunks of the segmented norms (one per tensor here):
 * host to device at most 4n bytes (the epoch's sample order; Adam epochs only) plus the norms'
 * chunk table (16C + 4(T + 1) bytes, sent once per process and layout); device to host at most
 * S = 8(T + 2) + 64 bytes (the norms' T + 2 doubles, or a few scalars) per host read, and at most
 * one read per mini-batch step, per chunk of every objective pass (at most 3 per pass of compute:
 * a loss-only pass costs 1/3), per evaluation chunk, plus 16 per CG iteration (its dot products
 * and tests). Both bounds are far below one parameter vector (4P bytes), which the test also
 * checks. (They do not depend on the data: with this test's batches of 8 tiny images, a batch of
 * inputs is 2 KB, about what the ViTs' 37 to 55 tensors' norms take per epoch.) The Adam epochs
 * must also count at least what they certainly read (per step the norms' T + 2 doubles, per
 * evaluation chunk a loss and a count), so a read that a binding forgets to count fails the test.
 *
 * <p><b>The loss follows the CPU backend.</b> Every op the models use is bitwise the CPU's, or a
 * double reduction in another order (about 1e-16 relative), or a transcendental within one float
 * ulp (6e-8), except GEMM, whose float sums run in another order: a product with reduction length
 * k differs by at most k 2^-24 of the sum of |a b| (1.7e-5 of it at VGG5's largest k, 288; the
 * errors of independent roundings rather cancel, so typically sqrt(k) 2^-24, 1e-6). Carried
 * through the few layers in series and four Adam steps (whose normalized update turns a relative
 * gradient error into about the same relative step error), the training and validation losses
 * after the Adam epoch stay within {@value #ADAM_TOLERANCE} relative of the CPU's. The CG epoch's
 * line search stops anywhere within its own relative tolerance of 1e-3 of the step, so there
 * the bound is {@value #CG_TOLERANCE}, as in EmulatedCompareTest. Measured on the MLP, both bindings:
 * 9.9e-8 (training) and 2.2e-7 (validation) after the Adam epoch, 7.8e-8 after the CG epoch; the
 * Adam epoch moved 252 bytes to the device (the order, 128, and the chunk table, 124) and 432 back
 * (4 steps of segmented norms, 88 bytes each: 7 sums of squares, 7 maxima and the non-finite
 * flag; 80 for the 2 evaluation chunks' losses and counts), the CG epoch 24 to the device and 176
 * back. Over the five paper models: Adam epochs 348 to 1,232 bytes to the device and 624 to
 * 2,784 back, CG epochs 24 to 88 and 160 to 176.
 */
class PaperModelsOnEmulatedGpuTest {
    static final double ADAM_TOLERANCE = 1e-4;
    static final double CG_TOLERANCE = 1e-3;
    private static final int CHANNELS = 1, SIDE = 8, CLASSES = 10, TRAIN = 32, VAL = 8, BATCH = 8;
    private static final List<String> MODELS = List.of("mlp", "vgg5-max-relu", "vit-mlp", "vit-nomlp", "vit-nomlp-wkewq",
            "vit-nomlp-wkewq-wvwo1");

    private static final Map<String, RunResult> CPU_RUNS = new HashMap<>();

    static Stream<Arguments> backendsAndModels() {
        return Stream.of("ffm-emu", "jcuda-emu").flatMap(b -> MODELS.stream().map(m -> Arguments.of(b, m)));
    }

    static Network model(String name) {
        return name.equals("mlp") ? Network.mlp(CHANNELS * SIDE * SIDE, new int[] {64, 64}, CLASSES, Activation.TANH, Activation.IDENTITY)
                : Models.create(name, CHANNELS, SIDE, SIDE, CLASSES);
    }

    /** Random images in [0, 1) with labels that depend on them (so the loss can fall), seeded. */
    static Dataset data(String name, int n, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        int f = CHANNELS * SIDE * SIDE;
        float[] x = new float[n * f];
        int[] y = new int[n];
        for (int i = 0; i < n; i++) {
            double sum = 0;
            for (int j = 0; j < f; j++) sum += x[i * f + j] = (float) r.nextDouble();
            y[i] = (int) (sum * 7) % CLASSES;
        }
        return new Dataset(name, CHANNELS, SIDE, SIDE, CLASSES, x, y);
    }

    static TrainSettings settings() {
        return new TrainSettings(2, BATCH, 11, AdamConfig.adam(), CgConfig.defaults(), NormMeasure.MINIBATCH_MEAN, Loss.MSE);
    }

    static RunResult train(Backend be, String model) {
        return new Trainer(be, settings()).run(model, SwitchRule.atEpoch(1), model(model), data("train", TRAIN, 1), data("val", VAL, 2),
                Progress.none());
    }

    private static synchronized RunResult cpuRun(String model) {
        return CPU_RUNS.computeIfAbsent(model, m -> {
            try (CpuBackend cpu = new CpuBackend(2)) {
                return train(cpu, m);
            }
        });
    }

    @ParameterizedTest(name = "{1} on {0}") @MethodSource("backendsAndModels")
    void trainsOnTheDeviceMovingOnlyIndicesAndScalarsAndFollowsTheCpu(String backend, String model) throws Exception {
        Assumptions.assumeTrue(NativeResources.has(NativeResources.EMU_LIBRARY) && NativeResources.has(NativeResources.EMU_DRIVER),
                "the twophase-cuda jar carries no CUDA emulation (built without CMake)");
        RunResult cpu = cpuRun(model);
        RunResult gpu;
        long copies;
        try (Backend be = provider(backend).open(1)) {
            GpuBackend<?> g = (GpuBackend<?>) be;
            gpu = train(be, model); // a host fallback would throw HostFallbackException
            copies = g.hostFallbackCopies();
        }
        assertEquals(0, copies, backend + " " + model + ": buffers copied through the host");
        assertEquals(RunResult.Outcome.COMPLETED, gpu.outcome(), backend + " " + model + ": " + gpu.reason());
        assertEquals(cpu.epochs().size(), gpu.epochs().size(), backend + " " + model + ": epochs");

        Network net = model(model);
        long p = net.layout().size();
        int tensors = net.layout().offsets().length - 1;
        long chunks = 0;
        long[] offsets = net.layout().offsets();
        for (int t = 0; t < tensors; t++) chunks += CudaGeometry.normChunkCount(offsets[t + 1] - offsets[t]);
        long table = 16 * chunks + 4L * (tensors + 1);
        long scalars = 8L * (tensors + 2) + 64;
        int steps = (TRAIN + BATCH - 1) / BATCH, evalChunks = 2; // the training set and the validation set, one chunk each
        double computeBefore = 0;
        for (int i = 0; i < gpu.epochs().size(); i++) {
            EpochRecord c = cpu.epochs().get(i), e = gpu.epochs().get(i);
            String at = backend + " " + model + " epoch " + e.epoch() + " (" + e.phase() + ")";
            assertEquals(c.phase(), e.phase(), at + ": phase");
            boolean adam = e.phase().startsWith("adam");
            double tol = adam ? ADAM_TOLERANCE : CG_TOLERANCE;
            assertRelative(at + ": training loss", c.trainLoss(), e.trainLoss(), tol);
            assertRelative(at + ": validation loss", c.valLoss(), e.valLoss(), tol);

            long h2dBound = (adam ? 4L * TRAIN : 0) + table;
            double passes = e.evaluations() - computeBefore;
            computeBefore = e.evaluations();
            long reads = (adam ? steps : (long) Math.ceil(3 * passes) + 16) + evalChunks;
            long d2hBound = reads * scalars;
            assertTrue(e.hostToDeviceBytes() <= h2dBound, at + ": " + e.hostToDeviceBytes() + " bytes to the device, bound " + h2dBound);
            assertTrue(e.deviceToHostBytes() <= d2hBound, at + ": " + e.deviceToHostBytes() + " bytes to the host, bound " + d2hBound);
            if (adam) {
                // and no read went uncounted: each step reads at least the norms' T + 2 doubles, each evaluation chunk a loss and a count
                long d2hAtLeast = steps * 8L * (tensors + 2) + evalChunks * 16L;
                assertTrue(e.hostToDeviceBytes() >= 4L * TRAIN, at + ": the sample order went to the device");
                assertTrue(e.deviceToHostBytes() >= d2hAtLeast, at + ": " + e.deviceToHostBytes() + " bytes to the host counted, at least "
                        + d2hAtLeast + " were read");
            }
            assertTrue(e.hostToDeviceBytes() + e.deviceToHostBytes() < 4 * p,
                    at + ": " + (e.hostToDeviceBytes() + e.deviceToHostBytes()) + " bytes moved; one parameter vector is " + 4 * p);
        }
    }

    /** On the CPU backend nothing moves between host and device: both columns are 0. */
    @Test void theCpuBackendMovesNothing() {
        for (EpochRecord e : cpuRun("mlp").epochs()) assertEquals(0, e.hostToDeviceBytes() + e.deviceToHostBytes(), e.toString());
    }

    private static void assertRelative(String what, double want, double got, double tol) {
        if (!(Math.abs(got - want) <= tol * Math.abs(want))) {
            fail(what + ": " + got + ", cpu " + want + ": relative difference " + Math.abs(got - want) / Math.abs(want) + " > " + tol);
        }
    }

    private static BackendProvider provider(String name) {
        for (BackendProvider p : Backends.providers()) if (p.name().equals(name)) return p;
        throw new AssertionError("no backend provider " + name);
    }
}
