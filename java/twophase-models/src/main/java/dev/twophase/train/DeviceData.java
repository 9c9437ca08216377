package dev.twophase.train;

import dev.twophase.backend.Backend;
import dev.twophase.backend.Buffer;
import dev.twophase.data.Dataset;

/** A data set copied to a backend once: inputs and one-hot targets, plus the host labels. */
public final class DeviceData implements AutoCloseable {
    final Dataset host;
    final Buffer inputs, targets;

    public DeviceData(Backend be, Dataset host) {
        this.host = host;
        this.inputs = be.allocate(host.inputs().length);
        be.upload(host.inputs(), 0, inputs);
        float[] t = host.oneHotTargets();
        this.targets = be.allocate(t.length);
        be.upload(t, 0, targets);
    }

    public int size() { return host.size(); }

    Buffer inputRows(int first, int count) {
        return inputs.slice((long) first * host.features(), (long) count * host.features());
    }

    Buffer targetRows(int first, int count) {
        return targets.slice((long) first * host.classes(), (long) count * host.classes());
    }

    @Override public void close() {
        inputs.close();
        targets.close();
    }
}
