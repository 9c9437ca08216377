package dev.twophase.bench;

import dev.twophase.backend.Backend;
import dev.twophase.backend.BackendProvider;
import dev.twophase.backend.BackendUnavailableException;
import dev.twophase.backend.Backends;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.results.format.ResultFormatType;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.RunnerException;
import org.openjdk.jmh.runner.options.ChainedOptionsBuilder;
import org.openjdk.jmh.runner.options.OptionsBuilder;
import org.openjdk.jmh.runner.options.TimeValue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Runs {@link GpuOpsBenchmark} on the GPU backends that can run here and prints GB/s and the ratio
 * to the same run's device copy; skips cleanly (exit 0, a SKIPPED line) when none can.
 *
 * <pre>
 *   java -cp ... dev.twophase.bench.GpuBenchMain [--quick] [--sizes 1000000,10000000] [--out DIR] [--backends a,b]
 * </pre>
 * {@code --backends}: run these backends instead of the GPU backends that open here ({@code cpu}
 * checks the benchmark plumbing on a machine without a GPU).
 * {@code --quick}: 1 warm-up and 3 measurement iterations of 0.3 s (scripts/gpu-check);
 * default: the class's annotations (3 x 1 s warm-up, 5 x 1 s measurement). {@code --out}: writes
 * {@code jmh-gpu.json} (JMH's own result file) and {@code gpu-bench.csv} there.
 */
public final class GpuBenchMain {
    private GpuBenchMain() { }

    public static void main(String[] args) throws RunnerException, IOException {
        boolean quick = false;
        String sizes = null, backends = null;
        Path out = null;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--quick" -> quick = true;
                case "--sizes" -> sizes = args[++i];
                case "--out" -> out = Path.of(args[++i]);
                case "--backends" -> backends = args[++i];
                default -> {
                    System.err.println("usage: GpuBenchMain [--quick] [--sizes n1,n2] [--out DIR] [--backends a,b]");
                    System.exit(2);
                }
            }
        }
        List<String> available = new ArrayList<>();
        List<String> wanted = backends == null ? null : List.of(backends.split(","));
        for (BackendProvider p : Backends.providers()) {
            if (wanted == null ? !p.accelerated() : !wanted.contains(p.name())) continue;
            try (Backend b = p.open(1)) {
                available.add(p.name());
                System.out.println("# " + b.description());
            } catch (BackendUnavailableException e) {
                System.out.println("# " + p.name() + ": unavailable: " + e.getMessage());
            }
        }
        if (available.isEmpty()) {
            System.out.println("SKIPPED: no GPU backend can run here; GPU benchmarks not run");
            return;
        }
        ChainedOptionsBuilder opt = new OptionsBuilder()
                .include(GpuOpsBenchmark.class.getName().replace(".", "\\.") + ".*")
                .param("backend", available.toArray(String[]::new))
                .shouldFailOnError(true);
        if (sizes != null) opt.param("n", sizes.split(","));
        if (quick) {
            opt.warmupIterations(1).warmupTime(TimeValue.milliseconds(300))
                    .measurementIterations(3).measurementTime(TimeValue.milliseconds(300)).forks(1);
        }
        if (out != null) {
            Files.createDirectories(out);
            opt.resultFormat(ResultFormatType.JSON).result(out.resolve("jmh-gpu.json").toString());
        }
        Collection<RunResult> results = new Runner(opt.build()).run();
        String table = table(results);
        System.out.println();
        System.out.println(table);
        if (out != null) Files.writeString(out.resolve("gpu-bench.csv"), csv(results));
    }

    /** backend/n -> op -> (score, unit) */
    private static Map<String, Map<String, double[]>> byKey(Collection<RunResult> results) {
        Map<String, Map<String, double[]>> rows = new LinkedHashMap<>();
        for (RunResult r : results) {
            String method = r.getParams().getBenchmark();
            method = method.substring(method.lastIndexOf('.') + 1);
            String backend = r.getParams().getParam("backend");
            String n = r.getParams().getParam("n");
            String key = backend + (n == null ? " tiny" : " " + n);
            rows.computeIfAbsent(key, k -> new LinkedHashMap<>()).put(method, new double[] {r.getPrimaryResult().getScore(),
                    r.getPrimaryResult().getScoreError()});
        }
        return rows;
    }

    static String table(Collection<RunResult> results) {
        StringBuilder sb = new StringBuilder();
        sb.append(String.format(Locale.ROOT, "%-8s %11s %-30s %12s %9s %8s%n", "backend", "n", "op", "ops/s", "GB/s", "x copy"));
        for (Map.Entry<String, Map<String, double[]>> row : byKey(results).entrySet()) {
            String[] key = row.getKey().split(" ");
            if (key[1].equals("tiny")) {
                for (Map.Entry<String, double[]> op : row.getValue().entrySet()) {
                    sb.append(String.format(Locale.ROOT, "%-8s %11d %-30s %12s %.2f us/call%n", key[0], 1, "tiny trialPoint " + op.getKey(), "",
                            op.getValue()[0]));
                }
                continue;
            }
            long n = Long.parseLong(key[1]);
            double[] copy = row.getValue().get("copy");
            double copyGbps = copy == null ? Double.NaN : copy[0] * n * GpuOpsBenchmark.BYTES_PER_ELEMENT.get("copy") / 1e9;
            for (Map.Entry<String, double[]> op : row.getValue().entrySet()) {
                double gbps = op.getValue()[0] * n * GpuOpsBenchmark.BYTES_PER_ELEMENT.get(op.getKey()) / 1e9;
                sb.append(String.format(Locale.ROOT, "%-8s %11d %-30s %12.1f %9.1f %8.3f%n", key[0], n, op.getKey(), op.getValue()[0], gbps,
                        gbps / copyGbps));
            }
        }
        return sb.toString();
    }

    static String csv(Collection<RunResult> results) {
        StringBuilder sb = new StringBuilder("backend,n,op,score,error,unit,GBps\n");
        for (RunResult r : results) {
            String method = r.getParams().getBenchmark();
            method = method.substring(method.lastIndexOf('.') + 1);
            String n = r.getParams().getParam("n");
            Integer bytes = GpuOpsBenchmark.BYTES_PER_ELEMENT.get(method);
            double gbps = n == null || bytes == null ? Double.NaN : r.getPrimaryResult().getScore() * Long.parseLong(n) * bytes / 1e9;
            sb.append(String.format(Locale.ROOT, "%s,%s,%s,%.6g,%.3g,%s,%.2f%n", r.getParams().getParam("backend"), n == null ? "1" : n, method,
                    r.getPrimaryResult().getScore(), r.getPrimaryResult().getScoreError(), r.getPrimaryResult().getScoreUnit(), gbps));
        }
        return sb.toString();
    }
}
