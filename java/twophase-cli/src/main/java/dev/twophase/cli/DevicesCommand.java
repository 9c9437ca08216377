package dev.twophase.cli;

import dev.twophase.backend.Backends;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.util.concurrent.Callable;

/** Tries every backend and prints whether it runs here and why not. */
@Command(name = "devices", mixinStandardHelpOptions = true,
        description = "Lists the backends (cpu, jcuda, ffm), whether each runs on this machine, and why not; then which one 'auto' picks.")
public final class DevicesCommand implements Callable<Integer> {
    @Option(names = "--threads", description = "CPU worker threads (default: all processors; at most 4 per processor).")
    Integer threads;

    @Override public Integer call() {
        int threads = Bounds.threads("--threads", this.threads);
        for (String line : Backends.probeAll(threads)) System.out.println(line);
        var sel = Backends.select("auto", threads);
        try (var b = sel.backend()) {
            System.out.println("auto -> " + b.name());
        }
        return 0;
    }
}
