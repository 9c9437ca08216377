package dev.twophase.optim;

import dev.twophase.backend.Backend;
import dev.twophase.backend.Buffer;

/** Objectives with known minima for optimizer tests; each counts its evaluations. */
final class TestProblems {
    private TestProblems() { }

    /** Base: evaluates in double on the host from the buffer's floats. */
    abstract static class Counting implements Objective {
        final Backend be;
        final int n;
        int values, gradients;

        Counting(Backend be, int n) {
            this.be = be;
            this.n = n;
        }

        abstract double f(double[] x, double[] g);

        @Override public double value(Buffer params) {
            values++;
            return f(read(params), null);
        }

        @Override public double valueAndGradient(Buffer params, Buffer gradient) {
            gradients++;
            double[] g = new double[n];
            double v = f(read(params), g);
            float[] gf = new float[n];
            for (int i = 0; i < n; i++) gf[i] = (float) g[i];
            be.upload(gf, 0, gradient);
            return v;
        }

        double[] read(Buffer params) {
            float[] p = new float[n];
            be.download(params, p, 0);
            double[] x = new double[n];
            for (int i = 0; i < n; i++) x[i] = p[i];
            return x;
        }
    }

    /** f(x) = 1/2 x^T A x - b^T x with A symmetric positive definite; minimum at A^-1 b. */
    static final class Quadratic extends Counting {
        final double[][] a;
        final double[] b;

        Quadratic(Backend be, double[][] a, double[] b) {
            super(be, b.length);
            this.a = a;
            this.b = b;
        }

        @Override double f(double[] x, double[] g) {
            double v = 0;
            for (int i = 0; i < n; i++) {
                double ax = 0;
                for (int j = 0; j < n; j++) ax += a[i][j] * x[j];
                v += 0.5 * x[i] * ax - b[i] * x[i];
                if (g != null) g[i] = ax - b[i];
            }
            return v;
        }

        /** Solves A x = b by Gaussian elimination (A is small and well conditioned here). */
        double[] minimizer() {
            double[][] m = new double[n][n + 1];
            for (int i = 0; i < n; i++) {
                System.arraycopy(a[i], 0, m[i], 0, n);
                m[i][n] = b[i];
            }
            for (int c = 0; c < n; c++) {
                for (int r = c + 1; r < n; r++) {
                    double f = m[r][c] / m[c][c];
                    for (int k = c; k <= n; k++) m[r][k] -= f * m[c][k];
                }
            }
            double[] x = new double[n];
            for (int r = n - 1; r >= 0; r--) {
                double s = m[r][n];
                for (int k = r + 1; k < n; k++) s -= m[r][k] * x[k];
                x[r] = s / m[r][r];
            }
            return x;
        }
    }

    /** A random SPD matrix Q diag(eigs) Q^T with eigenvalues in [1, 10]. */
    static Quadratic randomQuadratic(Backend be, int n, long seed) {
        java.util.Random r = new java.util.Random(seed);
        double[][] q = new double[n][n];
        for (int i = 0; i < n; i++) for (int j = 0; j < n; j++) q[i][j] = r.nextGaussian();
        for (int c = 0; c < n; c++) { // Gram-Schmidt: orthonormal columns
            for (int p = 0; p < c; p++) {
                double d = 0;
                for (int i = 0; i < n; i++) d += q[i][c] * q[i][p];
                for (int i = 0; i < n; i++) q[i][c] -= d * q[i][p];
            }
            double norm = 0;
            for (int i = 0; i < n; i++) norm += q[i][c] * q[i][c];
            for (int i = 0; i < n; i++) q[i][c] /= Math.sqrt(norm);
        }
        double[][] a = new double[n][n];
        for (int k = 0; k < n; k++) {
            double eig = 1 + 9.0 * k / (n - 1);
            for (int i = 0; i < n; i++) for (int j = 0; j < n; j++) a[i][j] += q[i][k] * eig * q[j][k];
        }
        double[] b = new double[n];
        for (int i = 0; i < n; i++) b[i] = r.nextGaussian();
        return new Quadratic(be, a, b);
    }

    /** Rosenbrock's function (1 - x)^2 + 100 (y - x^2)^2; minimum 0 at (1, 1). */
    static final class Rosenbrock extends Counting {
        Rosenbrock(Backend be) { super(be, 2); }

        @Override double f(double[] p, double[] g) {
            double x = p[0], y = p[1];
            if (g != null) {
                g[0] = -2 * (1 - x) - 400 * x * (y - x * x);
                g[1] = 200 * (y - x * x);
            }
            return (1 - x) * (1 - x) + 100 * (y - x * x) * (y - x * x);
        }
    }

    /** The extended Rosenbrock function: sum over pairs of (1 - x_2i)^2 + 100 (x_2i+1 - x_2i^2)^2 (n even or odd; an odd last variable enters only as x_2i+1). */
    static final class Rosenbrock2 extends Counting {
        Rosenbrock2(Backend be, int n) { super(be, n); }

        @Override double f(double[] p, double[] g) {
            double v = 0;
            if (g != null) java.util.Arrays.fill(g, 0);
            for (int i = 0; i + 1 < n; i += 2) {
                double x = p[i], y = p[i + 1], r = y - x * x;
                v += (1 - x) * (1 - x) + 100 * r * r;
                if (g != null) {
                    g[i] += -2 * (1 - x) - 400 * x * r;
                    g[i + 1] += 200 * r;
                }
            }
            return v;
        }
    }

    /**
     * Brown's badly scaled function (Moré, Garbow and Hillstrom no. 4): (x - 1e6)^2 + (y - 2e-6)^2 +
     * (xy - 2)^2, minimum 0 at (1e6, 2e-6), start (1, 1). In float32 x moves in steps of 1/16 near
     * its minimizer and y in steps of 2.3e-13.
     */
    static class BrownBadlyScaled extends Counting {
        BrownBadlyScaled(Backend be) { super(be, 2); }

        @Override double f(double[] p, double[] g) {
            double x = p[0], y = p[1], r1 = x - 1e6, r2 = y - 2e-6, r3 = x * y - 2;
            if (g != null) {
                g[0] = 2 * r1 + 2 * y * r3;
                g[1] = 2 * r2 + 2 * x * r3;
            }
            return r1 * r1 + r2 * r2 + r3 * r3;
        }
    }

    /**
     * Powell's badly scaled function (Moré, Garbow and Hillstrom no. 3): (1e4 x y - 1)^2 +
     * (exp(-x) + exp(-y) - 1.0001)^2, minimum 0 at (1.098e-5, 9.106), start (0, 1).
     */
    static final class PowellBadlyScaled extends Counting {
        PowellBadlyScaled(Backend be) { super(be, 2); }

        @Override double f(double[] p, double[] g) {
            double x = p[0], y = p[1], r1 = 1e4 * x * y - 1, r2 = Math.exp(-x) + Math.exp(-y) - 1.0001;
            if (g != null) {
                g[0] = 2 * r1 * 1e4 * y - 2 * r2 * Math.exp(-x);
                g[1] = 2 * r1 * 1e4 * x - 2 * r2 * Math.exp(-y);
            }
            return r1 * r1 + r2 * r2;
        }
    }

    /**
     * Wood's function (Moré, Garbow and Hillstrom no. 14): 100 (x1^2 - x2)^2 + (x1 - 1)^2 + (x3 - 1)^2 +
     * 90 (x3^2 - x4)^2 + 10.1 ((x2 - 1)^2 + (x4 - 1)^2) + 19.8 (x2 - 1)(x4 - 1); minimum 0 at (1, 1, 1, 1),
     * standard start (-3, -1, -3, -1).
     */
    static final class Wood extends Counting {
        Wood(Backend be) { super(be, 4); }

        @Override double f(double[] p, double[] g) {
            double x1 = p[0], x2 = p[1], x3 = p[2], x4 = p[3];
            double a = x1 * x1 - x2, b = x3 * x3 - x4;
            if (g != null) {
                g[0] = 400 * x1 * a + 2 * (x1 - 1);
                g[1] = -200 * a + 20.2 * (x2 - 1) + 19.8 * (x4 - 1);
                g[2] = 2 * (x3 - 1) + 360 * x3 * b;
                g[3] = -180 * b + 20.2 * (x4 - 1) + 19.8 * (x2 - 1);
            }
            return 100 * a * a + (x1 - 1) * (x1 - 1) + (x3 - 1) * (x3 - 1) + 90 * b * b
                    + 10.1 * ((x2 - 1) * (x2 - 1) + (x4 - 1) * (x4 - 1)) + 19.8 * (x2 - 1) * (x4 - 1);
        }
    }

    /**
     * The trigonometric function (Moré, Garbow and Hillstrom no. 26): the sum of squares of
     * r_i = n - sum_j cos x_j + i (1 - cos x_i) - sin x_i, i = 1..n; standard start x_j = 1/n, a local
     * minimum near f = 2.8e-5 (n = 100).
     */
    static final class Trigonometric extends Counting {
        Trigonometric(Backend be, int n) { super(be, n); }

        @Override double f(double[] p, double[] g) {
            double cosSum = 0;
            for (double v : p) cosSum += Math.cos(v);
            double[] r = new double[n];
            double v = 0, rSum = 0;
            for (int i = 0; i < n; i++) {
                r[i] = n - cosSum + (i + 1) * (1 - Math.cos(p[i])) - Math.sin(p[i]);
                v += r[i] * r[i];
                rSum += r[i];
            }
            if (g != null) {
                // dr_i/dx_j = sin x_j for j != i, plus (i + 1) sin x_i - cos x_i for j = i.
                for (int j = 0; j < n; j++) g[j] = 2 * (rSum * Math.sin(p[j]) + r[j] * ((j + 1) * Math.sin(p[j]) - Math.cos(p[j])));
            }
            return v;
        }
    }

    /**
     * {@code scale * (x - center)^2} in one variable, and NaN (loss or gradient, as chosen) for
     * {@code x > wall}: for steps that leave the domain and for starts far out at float32 resolution.
     */
    static final class Parabola extends Counting {
        final double scale, center, wall;
        final boolean nanLoss, nanGradient;

        Parabola(Backend be, double scale, double center, double wall, boolean nanLoss, boolean nanGradient) {
            super(be, 1);
            this.scale = scale;
            this.center = center;
            this.wall = wall;
            this.nanLoss = nanLoss;
            this.nanGradient = nanGradient;
        }

        @Override double f(double[] p, double[] g) {
            double x = p[0];
            boolean out = x > wall;
            if (g != null) g[0] = out && nanGradient ? Double.NaN : 2 * scale * (x - center);
            return out && nanLoss ? Double.NaN : scale * (x - center) * (x - center);
        }
    }

    /** {@code (x - center)^4 + k (x - center)^2}, one variable: a probe's parabola misses its minimizer, a quartic does not. */
    static final class Quartic extends Counting {
        final double center, k;

        Quartic(Backend be, double center, double k) {
            super(be, 1);
            this.center = center;
            this.k = k;
        }

        @Override double f(double[] p, double[] g) {
            double e = p[0] - center;
            if (g != null) g[0] = 4 * e * e * e + 2 * k * e;
            return e * e * e * e + k * e * e;
        }
    }

    static Buffer buffer(Backend be, float... values) {
        Buffer b = be.allocate(values.length);
        be.upload(values, 0, b);
        return b;
    }
}
