package dev.twophase.bench;

import dev.twophase.data.Dataset;
import dev.twophase.data.Datasets;
import dev.twophase.data.Mnist;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/**
 * Loading all of MNIST (the four IDX files, gzip as downloaded) from {@code dir}: with the
 * checksums of the canonical files verified ({@code verify=true}, what a run does by default) and
 * without ({@code verify=false}, {@code --skip-checksums}), the baseline: the difference is what
 * the verification costs. Needs the data (e.g. {@code twophase download mnist}); {@code -p dir=...}
 * names its folder (the default is the development machines' shared copy):
 * <pre>
 * mvn -B -q package dependency:build-classpath -pl java/twophase-bench -am -DskipTests -Dmdep.outputFile=target/bench.cp
 * java -cp java/twophase-bench/target/classes:$(cat java/twophase-bench/target/bench.cp) org.openjdk.jmh.Main MnistLoadBench
 * </pre>
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Fork(value = 1, jvmArgs = {"-Xms2g", "-Xmx2g"})
@Warmup(iterations = 3, time = 2, timeUnit = TimeUnit.SECONDS)
@Measurement(iterations = 5, time = 2, timeUnit = TimeUnit.SECONDS)
@State(Scope.Benchmark)
public class MnistLoadBench {
    @Param("../shared/data/mnist")
    public String dir;

    @Param({"true", "false"})
    public boolean verify;

    @Benchmark
    public Dataset.Split load() throws IOException {
        return Mnist.load(Mnist.Variant.MNIST, Path.of(dir), new Datasets.Request(0, 0, verify));
    }
}
