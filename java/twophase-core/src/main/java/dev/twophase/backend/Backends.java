package dev.twophase.backend;

import dev.twophase.backend.cpu.CpuBackend;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.ServiceLoader;

/**
 * The one place that chooses a backend. {@code auto} takes the first accelerated backend that
 * opens, else the CPU; it never takes an emulated one ({@link BackendProvider#emulated()}). Every
 * other choice names one backend. The selection keeps a line per candidate saying why it was or
 * was not chosen, for {@code twophase devices} and the reports.
 */
public final class Backends {
    private Backends() { }

    /** The chosen backend and one line per candidate that was tried or skipped. */
    public record Selection(Backend backend, List<String> reasons) { }

    /** All known providers: those registered as services (jcuda, ffm, jcuda-emu, ffm-emu), then the CPU. */
    public static List<BackendProvider> providers() {
        List<BackendProvider> all = new ArrayList<>();
        for (BackendProvider p : ServiceLoader.load(BackendProvider.class)) all.add(p);
        all.add(new CpuProvider());
        return all;
    }

    public static List<String> names() {
        List<String> n = new ArrayList<>();
        n.add("auto");
        for (BackendProvider p : providers()) n.add(p.name());
        return n;
    }

    /**
     * Opens the backend named {@code choice} ({@code auto}, {@code cpu}, {@code jcuda}, {@code ffm},
     * {@code jcuda-emu}, {@code ffm-emu}).
     *
     * @throws IllegalArgumentException for an unknown name, or when the named backend cannot run
     *         here (the message says why)
     */
    public static Selection select(String choice, int cpuThreads) {
        String want = choice.trim().toLowerCase(Locale.ROOT);
        List<String> reasons = new ArrayList<>();
        List<BackendProvider> providers = providers();
        if (want.equals("auto")) {
            for (BackendProvider p : providers) {
                if (!p.accelerated() || p.emulated()) continue;
                try {
                    Backend b = p.open(cpuThreads);
                    reasons.add(p.name() + ": chosen: " + b.description());
                    return new Selection(b, reasons);
                } catch (BackendUnavailableException e) {
                    reasons.add(p.name() + ": unavailable: " + e.getMessage());
                }
            }
            Backend cpu = new CpuBackend(cpuThreads);
            reasons.add("cpu: chosen (no GPU backend runs here): " + cpu.description());
            return new Selection(cpu, reasons);
        }
        for (BackendProvider p : providers) {
            if (!p.name().equals(want)) continue;
            try {
                Backend b = p.open(cpuThreads);
                reasons.add(p.name() + ": chosen: " + b.description());
                return new Selection(b, reasons);
            } catch (BackendUnavailableException e) {
                throw new IllegalArgumentException("backend '" + want + "' cannot run here: " + e.getMessage(), e);
            }
        }
        throw new IllegalArgumentException("unknown backend '" + choice + "'; expected one of " + names());
    }

    /** Tries every provider and reports each one's state, for {@code twophase devices}. */
    public static List<String> probeAll(int cpuThreads) {
        List<String> lines = new ArrayList<>();
        for (BackendProvider p : providers()) {
            try (Backend b = p.open(cpuThreads)) {
                lines.add(p.name() + ": available: " + b.description());
            } catch (BackendUnavailableException e) {
                lines.add(p.name() + ": unavailable: " + e.getMessage());
            }
        }
        return lines;
    }

    private static final class CpuProvider implements BackendProvider {
        @Override public String name() { return "cpu"; }

        @Override public boolean accelerated() { return false; }

        @Override public Backend open(int cpuThreads) { return new CpuBackend(cpuThreads); }
    }
}
