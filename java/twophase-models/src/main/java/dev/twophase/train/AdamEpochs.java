package dev.twophase.train;

import dev.twophase.backend.Backend;
import dev.twophase.backend.Buffer;
import dev.twophase.data.Shuffle;
import dev.twophase.nn.Loss;
import dev.twophase.nn.NetworkRunner;

/**
 * Mini-batch Adam epochs on data resident on a backend, as training runs them: an epoch uploads its
 * sample order (4 bytes per sample, the epoch's only upload), and each step gathers its rows of
 * inputs and one-hot targets on the backend by those indices, computes the mini-batch gradient
 * ({@link Trainer#batchGradient}) and hands it to the optimizer's step. The {@link Trainer}'s Adam
 * phase runs these epochs, and {@code throughput --paper-estimate} times them.
 */
public final class AdamEpochs implements AutoCloseable {
    /** The optimizer's step on the gradient of one mini-batch of {@code rows} rows (and any bookkeeping of it). */
    @FunctionalInterface
    public interface Step {
        void apply(Buffer params, Buffer grads, int rows);
    }

    private final Backend be;
    private final NetworkRunner runner;
    private final DeviceData data;
    private final Loss loss;
    private final int batchSize;
    private final Buffer batchX, batchY, order;

    /**
     * Epochs over all of {@code data} in mini-batches of {@code batchSize} rows (the last one
     * smaller when the size does not divide), through {@code runner} (which must hold a batch).
     */
    public AdamEpochs(Backend be, NetworkRunner runner, DeviceData data, Loss loss, int batchSize) {
        if (batchSize < 1 || batchSize > runner.maxBatch()) {
            throw new IllegalArgumentException("batch size " + batchSize + "; expected 1 to the runner's " + runner.maxBatch() + " rows");
        }
        this.be = be;
        this.runner = runner;
        this.data = data;
        this.loss = loss;
        this.batchSize = batchSize;
        Buffer x = null, y = null, o = null;
        try {
            x = be.allocate((long) batchSize * data.features());
            y = be.allocate((long) batchSize * data.classes());
            o = be.allocate(data.size());
        } catch (RuntimeException | Error e) {
            for (Buffer b : new Buffer[] {x, y, o}) if (b != null) b.close();
            throw e;
        }
        this.batchX = x;
        this.batchY = y;
        this.order = o;
    }

    /**
     * One epoch: the samples in the order of {@link Shuffle#permutation} with {@code shuffleSeed},
     * {@code step} after each mini-batch gradient ({@code grads} is overwritten by each).
     */
    public void epoch(long shuffleSeed, Buffer params, Buffer grads, Step step) {
        int n = data.size(), f = data.features(), c = data.classes();
        int[] permutation = Shuffle.permutation(n, shuffleSeed);
        float[] rows = new float[n];
        for (int i = 0; i < n; i++) rows[i] = permutation[i];
        be.upload(rows, 0, order);
        for (int first = 0; first < n; first += batchSize) {
            int count = Math.min(batchSize, n - first);
            Buffer x = batchX.slice(0, (long) count * f), y = batchY.slice(0, (long) count * c);
            data.gather(order.slice(first, count), x, y);
            Trainer.batchGradient(be, runner, loss, params, grads, x, y, count, c);
            step.apply(params, grads, count);
        }
    }

    @Override public void close() {
        batchX.close();
        batchY.close();
        order.close();
    }
}
