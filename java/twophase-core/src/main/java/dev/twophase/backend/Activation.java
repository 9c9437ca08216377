package dev.twophase.backend;

import java.util.Locale;

/**
 * Elementwise activation functions. The scalar formulas here are the definition; the CPU
 * backend's loops and the CUDA kernels ({@code cuda/layers.cu}) compute the same expressions in
 * the same order and precision, so their results agree to the bit except where the double
 * {@code exp}/{@code tanh} of the JVM and of the device differ in their last bit and that bit
 * decides a float rounding.
 */
public enum Activation {
    IDENTITY, RELU, TANH, SIGMOID,
    /**
     * GELU, tanh approximation: 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3), evaluated
     * as x s with the gate s = 1 / (1 + exp(-2u)) (see {@code geluGate}).
     */
    GELU;

    static final float GELU_C = 0.7978845608028654f; // sqrt(2/pi)
    static final float GELU_A = 0.044715f;

    public float apply(float x) {
        return switch (this) {
            case IDENTITY -> x;
            case RELU -> Math.max(x, 0f); // NaN passes through, as in the CPU and CUDA loops
            case TANH -> (float) Math.tanh(x);
            case SIGMOID -> (float) (1.0 / (1.0 + Math.exp(-x)));
            case GELU -> x * geluGate(x);
        };
    }

    /**
     * 0.5 (1 + tanh(u)) with u = sqrt(2/pi) (x + 0.044715 x^3), computed as the equal
     * 1 / (1 + exp(-2u)): u in float, the gate in double, rounded once. Unlike 1 + tanh(u), which
     * cancels where tanh(u) is near -1 (x below about -3; it is 0 in float below about x = -5),
     * it keeps its relative accuracy for every x; and it is one exp instead of a tanh, which is
     * several times slower in Java. The kernels evaluate the same expression.
     */
    static float geluGate(float x) {
        float u = GELU_C * (x + GELU_A * x * x * x);
        return (float) (1.0 / (1.0 + Math.exp(-2.0 * u)));
    }

    /**
     * d apply / dx at input {@code x} whose output was {@code y}; for GELU
     * {@code s + x s (1 - s) 2 u'} with {@code u' = sqrt(2/pi) (1 + 3 * 0.044715 x^2)}, in float,
     * left to right.
     */
    public float derivative(float x, float y) {
        return switch (this) {
            case IDENTITY -> 1f;
            case RELU -> x > 0f ? 1f : 0f;
            case TANH -> 1f - y * y;
            case SIGMOID -> y * (1f - y);
            case GELU -> {
                float s = geluGate(x), du = GELU_C * (1f + 3f * GELU_A * x * x);
                yield s + x * s * (1f - s) * 2f * du;
            }
        };
    }

    /** Parses a command-line name such as {@code relu} or {@code tanh}. */
    public static Activation parse(String s) {
        try {
            return valueOf(s.trim().toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("unknown activation '" + s + "'; expected one of identity, relu, tanh, sigmoid, gelu");
        }
    }

    public String id() { return name().toLowerCase(Locale.ROOT); }
}
