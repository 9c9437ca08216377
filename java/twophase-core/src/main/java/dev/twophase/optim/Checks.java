package dev.twophase.optim;

/** Hyperparameter validation that names the parameter, the value and what was expected. */
final class Checks {
    private Checks() { }

    static void positive(String name, double v) {
        if (!(v > 0) || Double.isInfinite(v)) throw new IllegalArgumentException(name + " = " + v + "; expected a finite value > 0");
    }

    static void nonNegative(String name, double v) {
        if (!(v >= 0) || Double.isInfinite(v)) throw new IllegalArgumentException(name + " = " + v + "; expected a finite value >= 0");
    }

    /** In [0, 1). */
    static void unitInterval(String name, double v) {
        if (!(v >= 0 && v < 1)) throw new IllegalArgumentException(name + " = " + v + "; expected a value in [0, 1)");
    }

    /** In (0, 1]. */
    static void fraction(String name, double v) {
        if (!(v > 0 && v <= 1)) throw new IllegalArgumentException(name + " = " + v + "; expected a value in (0, 1]");
    }

    static void atLeast(String name, long v, long min) {
        if (v < min) throw new IllegalArgumentException(name + " = " + v + "; expected at least " + min);
    }
}
