package dev.twophase.optim;

import java.util.Locale;

/** Which norm of the gradient a stopping test measures. */
public enum GradientNorm {
    /** The Euclidean norm, {@code sqrt(sum g_i^2)}: grows with the number of parameters. */
    TWO("2"),
    /** The largest absolute component, {@code max |g_i|} (SciPy's default for its gradient tolerance). */
    MAX("max");

    private final String id;

    GradientNorm(String id) { this.id = id; }

    public String id() { return id; }

    /** This norm of a gradient whose 2-norm and max-norm are given. */
    public double of(double twoNorm, double maxNorm) { return this == TWO ? twoNorm : maxNorm; }

    public static GradientNorm parse(String s) {
        String k = s.trim().toLowerCase(Locale.ROOT);
        for (GradientNorm n : values()) if (n.id.equals(k) || n.name().toLowerCase(Locale.ROOT).equals(k)) return n;
        throw new IllegalArgumentException("unknown gradient norm '" + s + "'; expected 2 or max");
    }
}
