package dev.twophase.backend;

import org.junit.jupiter.api.Test;

import java.math.BigDecimal;
import java.math.MathContext;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * GELU against its definition, x Phi(x) with Phi = (1 + tanh u) / 2, u = sqrt(2/pi) (x + 0.044715
 * x^3), evaluated independently of Activation's float formula: in double with the exact identity
 * (1 + tanh u) / 2 = 1 / (1 + e^-2u), checked at a few points in 40-digit decimal arithmetic. The
 * float formula must stay within its error bound everywhere, including x < -5, where the form
 * 0.5 x (1 + tanh u) cancels (and is 0 in float below about x = -5).
 */
class ActivationTest {
    private static final double EPS = Math.ulp(1.0f) / 2; // 2^-24
    private static final double SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

    private static double u(double x) { return SQRT_2_OVER_PI * (x + 0.044715 * x * x * x); }

    private static double phi(double x) { return 1 / (1 + Math.exp(-2 * u(x))); }

    private static double oneMinusPhi(double x) { return 1 / (1 + Math.exp(2 * u(x))); }

    private static double derivative(double x) {
        double du = SQRT_2_OVER_PI * (1 + 3 * 0.044715 * x * x);
        return phi(x) + x * 2 * phi(x) * oneMinusPhi(x) * du;
    }

    /**
     * The float formula's error bound (the derivation is in native-tests/test_gpu_layers.cpp,
     * gelu_close): u in float within 6 eps; the gate carries 2 |u| (1 - Phi) times that, plus its
     * rounding; the derivative is bounded by the magnitudes of its two terms; subnormal gates are
     * quantized to 2^-149 times what multiplies them; doubled for margin.
     */
    private static boolean close(float x, float got, boolean backward) {
        double ax = Math.abs((double) x), du = SQRT_2_OVER_PI * (1 + 3 * 0.044715 * x * x), tiny = Math.scalb(1.0, -149);
        double es = EPS * (1 + 12 * Math.abs(u(x)) * oneMinusPhi(x));
        double want, bound;
        if (!backward) {
            want = x * phi(x);
            bound = 2 * (es + EPS) * ax * phi(x) + (1 + ax) * tiny;
        } else {
            want = derivative(x);
            double t2 = ax * 2 * phi(x) * oneMinusPhi(x) * du;
            bound = 2 * (es * phi(x) + t2 * (es + 4 * EPS) + ax * 2 * du * phi(x) * phi(x) * es + EPS * Math.abs(want))
                    + (1 + ax * (1 + 2 * du)) * tiny;
        }
        return Math.abs(got - want) <= bound;
    }

    @Test void geluFollowsItsDefinitionEverywhere() {
        int checked = 0;
        for (int i = -12 * 256; i <= 12 * 256; i++) {
            float x = i / 256f;
            float y = Activation.GELU.apply(x), d = Activation.GELU.derivative(x, y);
            if (!close(x, y, false)) fail("gelu(" + x + ") = " + y + ", definition " + x * phi(x));
            if (!close(x, d, true)) fail("gelu'(" + x + ") = " + d + ", definition " + derivative(x));
            checked++;
        }
        assertEquals(6145, checked);
    }

    @Test void geluKeepsItsRelativeAccuracyBelowMinusFive() {
        for (float x = -5.5f; x >= -10f; x -= 0.125f) {
            float y = Activation.GELU.apply(x);
            double want = x * phi(x);
            assertTrue(y != 0f && Math.abs(y - want) <= 1e-4 * Math.abs(want), "gelu(" + x + ") = " + y + ", definition " + want);
            float viaTanh = 0.5f * x * (1f + (float) Math.tanh(Activation.GELU_C * (x + Activation.GELU_A * x * x * x)));
            assertEquals(0f, Math.abs(viaTanh), "the tanh form is 0 at " + x + ": why the gate is 1 / (1 + exp(-2u))");
        }
    }

    /** The double-precision definition itself, against 40-digit decimal arithmetic at a few points (to 1e-13). */
    @Test void theDefinitionIsRightToDoublePrecision() {
        MathContext mc = new MathContext(40);
        for (double x : new double[] {-9.5, -6, -2.25, -0.75, 0.5, 3}) {
            BigDecimal bx = new BigDecimal(x);
            BigDecimal bu = new BigDecimal("0.7978845608028653558798921198687637369517").multiply(
                    bx.add(new BigDecimal("0.044715").multiply(bx.pow(3, mc), mc), mc), mc);
            BigDecimal e = exp(bu.multiply(BigDecimal.valueOf(-2), mc), mc);
            BigDecimal gelu = bx.divide(BigDecimal.ONE.add(e, mc), mc);
            // the double evaluation loses about 2|u| ulps in exp(-2u) (~80 at x = -9.5): far below float precision
            assertEquals(gelu.doubleValue(), x * phi(x), 1e-13 * Math.abs(gelu.doubleValue()), "gelu(" + x + ")");
        }
    }

    /** e^v by its Taylor series after halving v to below 1 and squaring back (40 digits suffice). */
    private static BigDecimal exp(BigDecimal v, MathContext mc) {
        int halvings = 0;
        while (v.abs().compareTo(BigDecimal.ONE) > 0) {
            v = v.divide(BigDecimal.valueOf(2), mc);
            halvings++;
        }
        BigDecimal sum = BigDecimal.ONE, term = BigDecimal.ONE;
        for (int k = 1; k < 60; k++) {
            term = term.multiply(v, mc).divide(BigDecimal.valueOf(k), mc);
            sum = sum.add(term, mc);
        }
        for (int i = 0; i < halvings; i++) sum = sum.multiply(sum, mc);
        return sum;
    }
}
