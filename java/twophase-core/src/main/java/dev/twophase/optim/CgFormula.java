package dev.twophase.optim;

import java.util.Locale;

/**
 * The conjugacy parameter beta of nonlinear CG, from the gradients g0 (previous) and g1 (new) and
 * the previous direction d:
 * <ul>
 *   <li>{@code POLAK_RIBIERE_PLUS}: max(0, g1.(g1 - g0) / g0.g0), the default: it restarts by itself
 *       when progress stalls and is the variant Numerical Recipes recommends;</li>
 *   <li>{@code FLETCHER_REEVES}: g1.g1 / g0.g0;</li>
 *   <li>{@code HESTENES_STIEFEL}: g1.(g1 - g0) / d.(g1 - g0);</li>
 *   <li>{@code HAGER_ZHANG}: max(0, (y - 2 d |y|^2 / d.y).g1 / d.y) with y = g1 - g0 (CG_DESCENT's
 *       formula, truncated at 0 like PR+), from the same dots.</li>
 * </ul>
 */
public enum CgFormula {
    POLAK_RIBIERE_PLUS("pr+"), FLETCHER_REEVES("fr"), HESTENES_STIEFEL("hs"), HAGER_ZHANG("hz");

    private final String id;

    CgFormula(String id) { this.id = id; }

    public String id() { return id; }

    /**
     * beta from the dot products one CG iteration computes in one pass:
     * {@code g1g1 = g1.g1}, {@code g1g0 = g1.g0}, {@code dg1 = d.g1}, and the previous
     * {@code g0g0 = g0.g0}, {@code dg0 = d.g0}. Returns 0 (steepest descent) when the
     * denominator vanishes.
     */
    double beta(double g1g1, double g1g0, double g0g0, double dg1, double dg0) {
        double num, den;
        switch (this) {
            case FLETCHER_REEVES -> { num = g1g1; den = g0g0; }
            case POLAK_RIBIERE_PLUS -> { num = g1g1 - g1g0; den = g0g0; }
            case HAGER_ZHANG -> {
                double dy = dg1 - dg0, yy = g1g1 - 2 * g1g0 + g0g0;
                num = (g1g1 - g1g0) - 2 * yy * dg1 / dy;
                den = dy;
            }
            default -> { num = g1g1 - g1g0; den = dg1 - dg0; }
        }
        if (!(den != 0) || !Double.isFinite(num / den)) return 0;
        double beta = num / den;
        return this == POLAK_RIBIERE_PLUS || this == HAGER_ZHANG ? Math.max(0, beta) : beta;
    }

    public static CgFormula parse(String s) {
        String k = s.trim().toLowerCase(Locale.ROOT);
        for (CgFormula f : values()) if (f.id.equals(k) || f.name().toLowerCase(Locale.ROOT).equals(k)) return f;
        throw new IllegalArgumentException("unknown CG formula '" + s + "'; expected pr+, fr, hs or hz");
    }
}
