package dev.twophase.nn;

import dev.twophase.backend.Buffer;
import dev.twophase.tensor.TensorView;

import java.util.SplittableRandom;

/** Helpers shared by the layers: tensor slices of the flat buffers and initializers. */
final class Views {
    private Views() { }

    static Buffer slice(Buffer flat, TensorView v) { return flat.slice(v.offset(), v.size()); }

    /** Uniform in +-bound, PyTorch's default for Linear and Conv2d weights and biases (bound = 1/sqrt(fan_in)). */
    static void uniform(float[] params, TensorView v, double bound, SplittableRandom rng) {
        for (long i = 0; i < v.size(); i++) params[(int) (v.offset() + i)] = (float) rng.nextDouble(-bound, bound);
    }

    static void fill(float[] params, TensorView v, float value) {
        java.util.Arrays.fill(params, (int) v.offset(), (int) (v.offset() + v.size()), value);
    }

    /** Carves consecutive regions out of a workspace buffer. */
    static final class Carver {
        private final Buffer ws;
        private long next;

        /** Carves {@code ws}; with null it only counts, to size a workspace from the same layout. */
        Carver(Buffer ws) { this.ws = ws; }

        Buffer take(long n) {
            Buffer b = ws == null ? null : ws.slice(next, n);
            next += n;
            return b;
        }

        long used() { return next; }
    }
}
