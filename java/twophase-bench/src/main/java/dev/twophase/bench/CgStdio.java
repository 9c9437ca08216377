package dev.twophase.bench;

import dev.twophase.backend.Buffer;
import dev.twophase.backend.cpu.CpuBackend;
import dev.twophase.optim.CgConfig;
import dev.twophase.optim.CgFormula;
import dev.twophase.optim.CgResult;
import dev.twophase.optim.CgStop;
import dev.twophase.optim.ConjugateGradient;
import dev.twophase.optim.GradientNorm;
import dev.twophase.optim.LineSearchKind;
import dev.twophase.optim.Objective;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.Locale;

/**
 * Runs {@link ConjugateGradient#minimize} on an objective evaluated by another process, for
 * scripts/cg-vs-scipy: the problems are defined once, in Python, and both optimizers see the same
 * float64 function. CG keeps x in float32 (as in training); the other side evaluates f and g in
 * float64 at those float32 points, and CG rounds g to float32.
 *
 * <p>Protocol on stdin/stdout, big-endian: the peer sends int32 n and n float64 (x0). Then CG sends
 * requests: one byte (1: value, 2: value and gradient) and n float64; the peer answers a float64 f
 * (and n float64 g for kind 2). At the end CG sends byte 0 and its result as one modified-UTF
 * string of JSON.
 *
 * <p>Arguments: {@code --line-search ID}, {@code --cg pr+|fr|hs|hz}, {@code --c1 X}, {@code --c2 X},
 * {@code --ls-tolerance X}, {@code --max-ls N}, {@code --probe true|false}, {@code --probe-reach X},
 * {@code --quartic true|false}, {@code --relative-unit-step true|false}, {@code --reliable-guess-c2 X} (0: always probe),
 * {@code --powell X} (0: off), {@code --restart-every N}, {@code --gtol X} (absolute), {@code --rtol X}
 * (relative to the start), {@code --norm 2|max}, {@code --max-evals N}, {@code --max-iter N}, {@code --trace true} (each iteration on stderr).
 */
public final class CgStdio {
    private CgStdio() { }

    public static void main(String[] args) throws IOException {
        CgConfig cfg = CgConfig.defaults();
        double gtol = 1e-5, rtol = 0;
        GradientNorm norm = GradientNorm.MAX;
        long maxEvals = Long.MAX_VALUE, maxIter = Long.MAX_VALUE;
        boolean trace = false;
        for (int i = 0; i < args.length; i += 2) {
            String v = args[i + 1];
            switch (args[i]) {
                case "--line-search" -> cfg = cfg.withLineSearch(LineSearchKind.parse(v));
                case "--cg" -> cfg = cfg.withFormula(CgFormula.parse(v));
                case "--c1" -> cfg = cfg.withWolfe(Double.parseDouble(v), cfg.c2());
                case "--c2" -> cfg = cfg.withWolfe(cfg.c1(), Double.parseDouble(v));
                case "--ls-tolerance" -> cfg = cfg.withLineSearchTolerance(Double.parseDouble(v));
                case "--max-ls" -> cfg = cfg.withMaxLineSearchEvaluations(Integer.parseInt(v));
                case "--probe" -> cfg = cfg.withFirstTrialProbe(Boolean.parseBoolean(v));
                case "--probe-reach" -> cfg = cfg.withProbeReach(Double.parseDouble(v));
                case "--quartic" -> cfg = cfg.withQuarticAfterProbe(Boolean.parseBoolean(v));
                case "--relative-unit-step" -> cfg = cfg.withRelativeUnitStep(Boolean.parseBoolean(v));
                case "--reliable-guess-c2" -> cfg = cfg.withReliableGuessC2(Double.parseDouble(v));
                case "--powell" -> cfg = cfg.withPowellRestart(Double.parseDouble(v));
                case "--restart-every" -> cfg = cfg.withRestartEvery(Integer.parseInt(v));
                case "--gtol" -> gtol = Double.parseDouble(v);
                case "--rtol" -> rtol = Double.parseDouble(v);
                case "--norm" -> norm = GradientNorm.parse(v);
                case "--max-evals" -> maxEvals = Long.parseLong(v);
                case "--max-iter" -> maxIter = Long.parseLong(v);
                case "--trace" -> trace = Boolean.parseBoolean(v);
                default -> throw new IllegalArgumentException("unknown argument " + args[i]);
            }
        }
        DataInputStream in = new DataInputStream(new BufferedInputStream(System.in));
        DataOutputStream out = new DataOutputStream(new BufferedOutputStream(System.out));
        int n = in.readInt();
        float[] x0 = new float[n];
        for (int i = 0; i < n; i++) x0[i] = (float) in.readDouble();
        CgStop stop = CgStop.defaults().withGradientTolerance(gtol, rtol, norm).withMaxEvaluations(maxEvals).withMaxIterations(maxIter);
        if (trace) stop = stop.withListener(it -> { System.err.println(it); return true; });
        try (CpuBackend cpu = new CpuBackend(1); Buffer x = cpu.allocate(n); ConjugateGradient cg = new ConjugateGradient(cpu, n, cfg)) {
            cpu.upload(x0, 0, x);
            Remote f = new Remote(cpu, n, in, out);
            long t0 = System.nanoTime();
            CgResult r = cg.minimize(f, x, stop);
            double seconds = (System.nanoTime() - t0) / 1e9;
            float[] xs = new float[n];
            cpu.download(x, xs, 0);
            StringBuilder json = new StringBuilder();
            json.append(String.format(Locale.ROOT, "{\"status\":\"%s\",\"reason\":\"%s\",\"iterations\":%d,\"valueCalls\":%d,\"valueAndGradientCalls\":%d,"
                            + "\"loss\":%.17g,\"gradientNorm\":%.17g,\"gradientMaxNorm\":%.17g,\"seconds\":%.6f,\"x\":[",
                    r.status(), r.reason().replace("\"", "'"), r.iterations(), r.valueCalls(), r.valueAndGradientCalls(), r.loss(),
                    r.gradientNorm(), r.gradientMaxNorm(), seconds));
            for (int i = 0; i < n; i++) json.append(i == 0 ? "" : ",").append(String.format(Locale.ROOT, "%.9g", xs[i]));
            json.append("]}");
            out.writeByte(0);
            out.writeUTF(json.toString());
            out.flush();
        }
    }

    /** The objective, evaluated by the peer process. */
    private record Remote(CpuBackend cpu, int n, DataInputStream in, DataOutputStream out) implements Objective {
        @Override public double value(Buffer params) { return call(1, params, null); }

        @Override public double valueAndGradient(Buffer params, Buffer gradient) { return call(2, params, gradient); }

        private double call(int kind, Buffer params, Buffer gradient) {
            try {
                float[] p = new float[n];
                cpu.download(params, p, 0);
                out.writeByte(kind);
                for (float v : p) out.writeDouble(v);
                out.flush();
                double f = in.readDouble();
                if (gradient != null) {
                    float[] g = new float[n];
                    for (int i = 0; i < n; i++) g[i] = (float) in.readDouble();
                    cpu.upload(g, 0, gradient);
                }
                return f;
            } catch (IOException e) {
                throw new UncheckedIOException("the objective's process stopped answering", e);
            }
        }
    }
}
