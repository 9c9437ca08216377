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
 * same model in PyTorch beside it.
 */
@Command(name = "throughput", mixinStandardHelpOptions = true,
        description = {"Measures training throughput (samples/s) of a model with Adam on random data:",
                "median over timed rounds of one pass over --samples samples in batches of --batch-size."})
public final class ThroughputCommand implements Callable<Integer> {
    @Option(names = "--model", description = "mlp, vgg5-max-relu, vit-mlp, ... Default: ${DEFAULT-VALUE}.")
    String model = "mlp";

    @Option(names = "--input", description = "Input shape CxHxW. Default: ${DEFAULT-VALUE} (MNIST).")
    String input = "1x28x28";

    @Option(names = "--hidden", split = ",", description = "MLP hidden widths. Default: 256,128.")
    int[] hidden = {256, 128};

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

    /** "CxHxW" with each size in 1..4096. */
    static int[] shape(String input) {
        if (!input.matches("[0-9]{1,4}x[0-9]{1,4}x[0-9]{1,4}")) throw new IllegalArgumentException("--input '" + input + "': expected CxHxW, e.g. 1x28x28");
        int[] d = java.util.Arrays.stream(input.split("x")).mapToInt(Integer::parseInt).toArray();
        for (int v : d) Bounds.range("--input (each size)", v, 1, 4096);
        return d;
    }

    @Override public Integer call() {
        Bounds.choice("--model", model, Models.NAMES);
        int[] dims = shape(input);
        int c = dims[0], h = dims[1], w = dims[2];
        Bounds.range("--classes", classes, 2, 65_536);
        Bounds.range("--samples", samples, 1, 1_000_000_000);
        Bounds.range("--batch-size", batchSize, 1, ExperimentOptions.MAX_BATCH);
        Bounds.range("--rounds", rounds, 1, 1_000);
        Bounds.range("--warmup", warmup, 0, 1_000);
        Bounds.range("--hidden (number of layers)", hidden.length, 1, ExperimentOptions.MAX_LAYERS);
        for (int width : hidden) Bounds.range("--hidden", width, 1, ExperimentOptions.MAX_WIDTH);
        Bounds.choice("--activation", activation, List.of("relu", "tanh", "sigmoid", "gelu"));
        Bounds.choice("--backend", backend, Backends.names());
        Bounds.threads("--threads", threads);
        Network net = model.equals("mlp")
                ? Network.mlp(c * h * w, hidden, classes, Activation.parse(activation), Activation.IDENTITY)
                : Models.create(model, c, h, w, classes);
        Backends.Selection sel = Backends.select(backend, Bounds.threads("--threads", threads));
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
}
