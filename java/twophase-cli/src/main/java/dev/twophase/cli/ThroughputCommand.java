package dev.twophase.cli;

import dev.twophase.backend.Activation;
import dev.twophase.backend.Backend;
import dev.twophase.backend.Backends;
import dev.twophase.backend.Buffer;
import dev.twophase.nn.Loss;
import dev.twophase.nn.Models;
import dev.twophase.nn.Network;
import dev.twophase.nn.NetworkRunner;
import dev.twophase.optim.Adam;
import dev.twophase.optim.AdamConfig;
import dev.twophase.data.Dataset;
import dev.twophase.train.AdamEpochs;
import dev.twophase.train.DeviceData;
import dev.twophase.train.ModelObjective;
import dev.twophase.train.Trainer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;

/**
 * Training throughput: Adam steps (forward, loss, backward, optimizer) on random data of the
 * model's input shape, timed after warm-up; the Java side of scripts/bench-train, which runs the
 * same model in PyTorch beside it. With {@code --paper-estimate} it times what a training run
 * does instead (Adam epochs on samples resident on the backend, batches gathered there by index,
 * and CG's full-batch gradient and forward passes) and estimates a paper-scale run from it
 * ({@link PaperScaleEstimate}); {@code scripts/gpu-check} runs it for every model on the device.
 */
@Command(name = "throughput", mixinStandardHelpOptions = true,
        description = {"Measures training throughput (samples/s) of a model with Adam on random data.",
                "The median over timed rounds of one pass over --samples samples in batches of --batch-size.",
                "--paper-estimate: times Adam epochs as training runs them (data on the backend, batches gathered by index)",
                "and CG's full-batch passes, and estimates the wall time of the model's Table 1 row at the paper's scale."})
public final class ThroughputCommand implements Callable<Integer> {
    @Option(names = "--model", description = "mlp, vgg5-max-relu, vit-mlp, ... Default: ${DEFAULT-VALUE}.")
    String model = "mlp";

    @Option(names = "--input", description = "Input shape CxHxW. Default: ${DEFAULT-VALUE} (MNIST).")
    String input = "1x28x28";

    @Option(names = "--hidden", paramLabel = "<width>[,<width>...]", description = "MLP hidden widths, comma-separated. Default: 256,128.")
    String[] hidden = {"256,128"};

    @Option(names = "--activation", description = "MLP hidden activation. Default: ${DEFAULT-VALUE}.")
    String activation = "relu";

    @Option(names = "--classes", description = "Outputs. Default: ${DEFAULT-VALUE}.")
    int classes = 10;

    @Option(names = "--samples", description = "Samples per timed round. Default: ${DEFAULT-VALUE}.")
    int samples = 10240;

    @Option(names = "--batch-size", description = "Default: ${DEFAULT-VALUE}.")
    int batchSize = 512;

    @Option(names = "--rounds", description = "Timed rounds. Default: ${DEFAULT-VALUE}.")
    int rounds = 5;

    @Option(names = "--warmup", description = "Untimed rounds first. Default: ${DEFAULT-VALUE}.")
    int warmup = 2;

    @Option(names = "--backend", description = "Default: ${DEFAULT-VALUE}.")
    String backend = "cpu";

    @Option(names = "--threads", description = "CPU threads (at most 4 per processor). Default: all processors.")
    Integer threads;

    @Option(names = "--paper-estimate", description = "Time a training run's Adam epochs and CG passes; estimate the paper-scale run.")
    boolean paperEstimate;

    @Option(names = "--train-size", description = "Estimate: training images. Default: ${DEFAULT-VALUE} (MNIST).")
    int trainSize = 60_000;

    @Option(names = "--val-size", description = "Estimate: validation images. Default: ${DEFAULT-VALUE}.")
    int valSize = 10_000;

    @Option(names = "--epochs", description = "Estimate: epochs per run. Default: repro --scale full's (1000; 700 for vit-mlp).")
    Integer epochs;

    @Option(names = "--cg-passes", description = "Estimate: compute per CG epoch, in passes. Default: ${DEFAULT-VALUE} (repro's Brent search, "
            + "measured on MNIST at reduced scale).")
    double cgPasses = 4.0;

    static final Bounds.Whole CLASSES = new Bounds.Whole("--classes", 2, 65_536), SAMPLES = new Bounds.Whole("--samples", 1, 1_000_000_000),
            ROUNDS = new Bounds.Whole("--rounds", 1, 1_000), WARMUP = new Bounds.Whole("--warmup", 0, 1_000),
            TRAIN_SIZE = new Bounds.Whole("--train-size", 1, ExperimentOptions.MAX_SAMPLES);
    /** The whole-number options' bounds (--threads apart: it depends on the machine). */
    static final List<Bounds.Whole> WHOLE = List.of(CLASSES, SAMPLES, ExperimentOptions.BATCH, ROUNDS, WARMUP, ExperimentOptions.WIDTH, TRAIN_SIZE,
            ExperimentOptions.VAL_SIZE, ExperimentOptions.EPOCHS);
    private static final int MAX_SIDE = 4096;

    /** "CxHxW" with each size in 1..4096. */
    static int[] shape(String input) {
        if (!input.matches("[0-9]+x[0-9]+x[0-9]+")) throw new IllegalArgumentException("--input '" + input + "': expected CxHxW, e.g. 1x28x28");
        String[] parts = input.split("x");
        int[] d = new int[3];
        for (int i = 0; i < 3; i++) {
            d[i] = parts[i].length() > 9 ? Integer.MAX_VALUE : Integer.parseInt(parts[i]);
            if (d[i] < 1 || d[i] > MAX_SIDE) {
                throw new IllegalArgumentException("--input '" + input + "': " + List.of("C", "H", "W").get(i) + " " + parts[i] + " is outside 1.." + MAX_SIDE
                        + "; expected CxHxW, e.g. 1x28x28");
            }
        }
        return d;
    }

    @Override public Integer call() {
        Bounds.choice("--model", model, Models.NAMES);
        int[] dims = shape(input);
        int c = dims[0], h = dims[1], w = dims[2];
        CLASSES.check(classes);
        SAMPLES.check(samples);
        ExperimentOptions.BATCH.check(batchSize);
        ROUNDS.check(rounds);
        WARMUP.check(warmup);
        int[] widths = Bounds.wholeList(String.join(",", hidden), ExperimentOptions.WIDTH, ExperimentOptions.MAX_LAYERS, "layers");
        Bounds.choice("--activation", activation, List.of("relu", "tanh", "sigmoid", "gelu"));
        Bounds.choice("--backend", backend, Backends.names());
        Bounds.threads("--threads", threads);
        TRAIN_SIZE.check(trainSize);
        ExperimentOptions.VAL_SIZE.check(valSize);
        if (epochs != null) ExperimentOptions.EPOCHS.check(epochs);
        if (!(cgPasses >= 1 && cgPasses <= 1000)) throw new IllegalArgumentException("--cg-passes " + cgPasses + ": expected 1 to 1000");
        if (paperEstimate && samples > Backend.MAX_INDEX) {
            throw new IllegalArgumentException("--samples " + samples + ": with --paper-estimate at most " + Backend.MAX_INDEX);
        }
        Network net;
        try {
            net = model.equals("mlp")
                    ? Network.mlp(c * h * w, widths, classes, Activation.parse(activation), Activation.IDENTITY)
                    : Models.create(model, c, h, w, classes);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("--input " + input + ": " + e.getMessage(), e);
        }
        Backends.Selection sel = Backends.select(backend, Bounds.threads("--threads", threads));
        if (paperEstimate) {
            try (Backend be = sel.backend()) {
                estimate(be, net, c, h, w);
            }
            return 0;
        }
        try (Backend be = sel.backend();
             NetworkRunner runner = new NetworkRunner(net, be, batchSize);
             Buffer params = be.allocate(net.layout().size());
             Buffer grads = be.allocate(net.layout().size());
             Buffer x = be.allocate((long) batchSize * net.inputSize());
             Buffer y = be.allocate((long) batchSize * classes);
             Adam adam = new Adam(be, net.layout(), AdamConfig.adam())) {
            be.upload(net.initialParameters(1), 0, params);
            SplittableRandom r = new SplittableRandom(2);
            float[] hx = new float[batchSize * net.inputSize()], hy = new float[batchSize * classes];
            for (int i = 0; i < hx.length; i++) hx[i] = (float) r.nextDouble();
            for (int i = 0; i < batchSize; i++) hy[i * classes + r.nextInt(classes)] = 1f;
            be.upload(hx, 0, x);
            be.upload(hy, 0, y);
            double[] rates = new double[rounds];
            for (int round = -warmup; round < rounds; round++) {
                long t0 = System.nanoTime();
                for (int done = 0; done < samples; done += batchSize) {
                    int rows = Math.min(batchSize, samples - done);
                    Buffer xb = x.slice(0, (long) rows * net.inputSize()), yb = y.slice(0, (long) rows * classes);
                    Trainer.batchGradient(be, runner, Loss.MSE, params, grads, xb, yb, rows, classes);
                    adam.step(params, grads);
                }
                be.synchronize();
                if (round >= 0) rates[round] = samples / ((System.nanoTime() - t0) / 1e9);
            }
            Arrays.sort(rates);
            System.out.printf(Locale.ROOT, "%s %s: %d parameters, batch %d, %s: median %.0f samples/s (min %.0f, max %.0f over %d rounds of %d)%n",
                    net.name(), input, net.layout().size(), batchSize, be.description(), rates[rounds / 2], rates[0], rates[rounds - 1], rounds, samples);
        }
        return 0;
    }

    /**
     * Adam epochs over {@code --samples} random samples resident on the backend (the trainer's
     * {@link AdamEpochs}), then full-batch gradient and forward passes over them (as CG's objective runs
     * them), each median of {@code --rounds} after {@code --warmup}; prints the rates and the
     * paper-scale estimate.
     */
    private void estimate(Backend be, Network net, int c, int h, int w) {
        SplittableRandom r = new SplittableRandom(2);
        float[] x = new float[samples * net.inputSize()];
        int[] labels = new int[samples];
        for (int i = 0; i < x.length; i++) x[i] = (float) r.nextDouble();
        for (int i = 0; i < samples; i++) labels[i] = r.nextInt(classes);
        Dataset data = new Dataset("random", c, h, w, classes, x, labels);
        int chunk = Trainer.runnerRows(batchSize, samples); // as the trainer: one runner for batches and full-batch chunks
        double[] adam = new double[rounds], gradient = new double[rounds], forward = new double[rounds];
        try (DeviceData resident = new DeviceData(be, data);
             NetworkRunner runner = new NetworkRunner(net, be, chunk);
             Buffer params = be.allocate(net.layout().size());
             Buffer grads = be.allocate(net.layout().size());
             AdamEpochs epochs = new AdamEpochs(be, runner, resident, Loss.MSE, batchSize);
             Adam opt = new Adam(be, net.layout(), AdamConfig.adam())) {
            be.upload(net.initialParameters(1), 0, params);
            ModelObjective objective = new ModelObjective(runner, resident, Loss.MSE);
            for (int round = -warmup; round < rounds; round++) {
                long t0 = System.nanoTime();
                epochs.epoch(round + 100L, params, grads, (p, g, rows) -> opt.step(p, g));
                be.synchronize();
                long t1 = System.nanoTime();
                objective.valueAndGradient(params, grads);
                be.synchronize();
                long t2 = System.nanoTime();
                objective.value(params);
                be.synchronize();
                long t3 = System.nanoTime();
                if (round >= 0) {
                    adam[round] = samples / ((t1 - t0) / 1e9);
                    gradient[round] = samples / ((t2 - t1) / 1e9);
                    forward[round] = samples / ((t3 - t2) / 1e9);
                }
            }
        }
        Arrays.sort(adam);
        Arrays.sort(gradient);
        Arrays.sort(forward);
        double a = adam[rounds / 2], g = gradient[rounds / 2], f = forward[rounds / 2];
        int e = epochs != null ? epochs : ReproCommand.preset(net.name(), "full").epochs();
        PaperScaleEstimate est = new PaperScaleEstimate(trainSize, valSize, e, (int) Math.round(0.3 * e), cgPasses, 1 / a, 1 / g, 1 / f);
        System.out.printf(Locale.ROOT, "%s %s: %d parameters, batch %d, %s: median %.0f samples/s (min %.0f, max %.0f over %d rounds of %d)%n",
                net.name(), input, net.layout().size(), batchSize, be.description(), a, adam[0], adam[rounds - 1], rounds, samples);
        System.out.printf(Locale.ROOT, "  full-batch passes (chunks of %d): gradient %.0f samples/s, forward %.0f samples/s (%.2f of a gradient pass)%n",
                chunk, g, f, g / f);
        System.out.println("  " + est.describe());
    }
}
