package dev.twophase.cli;

import dev.twophase.backend.BackendProvider;
import dev.twophase.backend.Backends;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.util.List;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;

/** Tries every backend and prints whether it runs here and why not; the emulated ones apart. */
@Command(name = "devices", mixinStandardHelpOptions = true,
        description = {"Lists the backends (cpu, jcuda, ffm; and jcuda-emu, ffm-emu: the CUDA kernels emulated on the CPU, "
                + "for testing), whether each runs on this machine, and why not; then which one 'auto' picks."})
public final class DevicesCommand implements Callable<Integer> {
    @Option(names = "--threads", description = "CPU worker threads (default: all processors; at most 4 per processor).")
    Integer threads;

    @Override public Integer call() {
        int threads = Bounds.threads("--threads", this.threads);
        Set<String> emulated = Backends.providers().stream().filter(BackendProvider::emulated).map(BackendProvider::name)
                .collect(Collectors.toSet());
        List<String> lines = Backends.probeAll(threads);
        for (String line : lines) if (!emulated.contains(backendOf(line))) System.out.println(line);
        System.out.println("emulated (CPU emulation of the CUDA kernels: for testing, slow; never chosen by auto):");
        for (String line : lines) if (emulated.contains(backendOf(line))) System.out.println("  " + line);
        var sel = Backends.select("auto", threads);
        try (var b = sel.backend()) {
            System.out.println("auto -> " + b.name());
        }
        return 0;
    }

    private static String backendOf(String line) {
        int colon = line.indexOf(':');
        return colon < 0 ? line : line.substring(0, colon);
    }
}
