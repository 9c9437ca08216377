package dev.twophase.train;

import dev.twophase.backend.Backend;
import dev.twophase.backend.Buffer;
import dev.twophase.data.Dataset;

/**
 * A data set copied to a backend once: the inputs, the labels (as float values, see
 * {@link Backend#gatherRows}), and the one-hot targets, built from the labels on the backend.
 * Training then gathers its mini-batches there by index ({@link Backend#gatherRows}) and counts
 * correct predictions there ({@link Backend#countCorrect}), so an epoch moves only its
 * mini-batch order to the device and scalars back.
 */
public final class DeviceData implements AutoCloseable {
    final Dataset host;
    final Buffer inputs, labels, targets;
    private final Backend be;

    /**
     * Uploads {@code host}'s inputs and labels to {@code be} and builds the targets there.
     *
     * @throws IllegalArgumentException when the data set has more rows than a float row number
     *         holds exactly ({@link Backend#MAX_INDEX})
     */
    public DeviceData(Backend be, Dataset host) {
        if (host.size() > Backend.MAX_INDEX) {
            throw new IllegalArgumentException("a data set of " + host.size() + " samples; training on a backend holds at most "
                    + Backend.MAX_INDEX + " (row numbers are float values)");
        }
        this.host = host;
        this.be = be;
        Buffer in = null, lab = null, tgt = null;
        try {
            in = be.allocate(host.inputs().length);
            be.upload(host.inputs(), 0, in);
            int[] l = host.labels();
            float[] asFloats = new float[l.length];
            for (int i = 0; i < l.length; i++) asFloats[i] = l[i];
            lab = be.allocate(l.length);
            be.upload(asFloats, 0, lab);
            tgt = be.allocate((long) host.size() * host.classes());
            be.oneHot(lab, host.classes(), tgt);
        } catch (RuntimeException | Error e) {
            for (Buffer b : new Buffer[] {in, lab, tgt}) if (b != null) b.close();
            throw e;
        }
        this.inputs = in;
        this.labels = lab;
        this.targets = tgt;
    }

    public int size() { return host.size(); }

    int features() { return host.features(); }

    int classes() { return host.classes(); }

    Buffer inputRows(int first, int count) {
        return inputs.slice((long) first * host.features(), (long) count * host.features());
    }

    Buffer targetRows(int first, int count) {
        return targets.slice((long) first * host.classes(), (long) count * host.classes());
    }

    /**
     * Gathers the samples whose row numbers {@code indices} holds (float values, as
     * {@link Backend#gatherRows} takes them) into a mini-batch: their inputs into {@code x} and
     * their one-hot targets into {@code y}, on the backend.
     */
    public void gather(Buffer indices, Buffer x, Buffer y) {
        be.gatherRows(inputs, host.features(), indices, x);
        be.gatherRows(targets, host.classes(), indices, y);
    }

    Buffer labelRows(int first, int count) {
        return labels.slice(first, count);
    }

    @Override public void close() {
        inputs.close();
        labels.close();
        targets.close();
    }
}
