package dev.twophase.train;

import dev.twophase.backend.Buffer;
import dev.twophase.nn.Loss;
import dev.twophase.nn.NetworkRunner;
import dev.twophase.optim.Objective;

/**
 * The full-batch training loss of a network, the {@link Objective} CG minimizes. Rows go through
 * the network in fixed chunks of the runner's batch size, so the result does not depend on
 * threads. It meters its own cost in forward+backward-pass equivalents over the data set: a
 * gradient costs 1, a loss alone 1/3 (a backward pass costs about two forward passes).
 */
public final class ModelObjective implements Objective {
    /** Cost of a forward pass relative to a forward+backward pass. */
    public static final double FORWARD_COST = 1.0 / 3.0;

    private final NetworkRunner runner;
    private final DeviceData data;
    private final Loss loss;
    private final double normalizer;
    private double compute;

    public ModelObjective(NetworkRunner runner, DeviceData data, Loss loss) {
        this.runner = runner;
        this.data = data;
        this.loss = loss;
        this.normalizer = loss.normalizer(data.size(), runner.network().outputSize());
    }

    @Override public double value(Buffer params) {
        compute += FORWARD_COST;
        return pass(params, null);
    }

    @Override public double valueAndGradient(Buffer params, Buffer gradient) {
        compute += 1;
        runner.backend().fill(gradient, 0f);
        return pass(params, gradient);
    }

    private double pass(Buffer params, Buffer gradient) {
        int n = data.size(), chunk = runner.maxBatch(), outputs = runner.network().outputSize();
        double sum = 0;
        for (int first = 0; first < n; first += chunk) {
            int rows = Math.min(chunk, n - first);
            Buffer x = data.inputRows(first, rows);
            Buffer out = runner.forward(params, x, rows);
            Buffer dOut = gradient == null ? null : runner.outputGradient(rows);
            sum += loss.sum(runner.backend(), out, data.targetRows(first, rows), outputs, (float) (1 / normalizer), dOut);
            if (gradient != null) runner.backward(params, gradient, x, rows);
        }
        return sum / normalizer;
    }

    /** Forward+backward-pass equivalents spent so far. */
    public double compute() { return compute; }

    /** Adds work done outside this objective (Adam's mini-batches), in the same unit. */
    public void addCompute(double passes) { compute += passes; }
}
