package dev.twophase.backend.cuda;

import dev.twophase.backend.BackendUnavailableException;

import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Locale;

/**
 * twophase's CUDA emulator ({@code cuda/emu}) as the emulated backends use it: the kernels, compiled
 * by the host C++ compiler, run on the CPU with the threads of a block as fibers, through
 * {@code libtwophase_emu.so} (the FFM backend's C ABI: {@code ffm-emu}) or through an emulated
 * {@code libcuda.so.1} that JCuda's natives bind to ({@code jcuda-emu}). For testing the kernels'
 * logic and both bindings' argument passing and error paths without a GPU; slow; never chosen by
 * {@code auto}.
 *
 * <p>The emulated device has {@value #MEMORY_PROPERTY} bytes of memory (a size such as
 * {@code 512M} or {@code 8G}); unset, the library's default: 2 GiB, or the environment variable
 * {@code TWOPHASE_EMU_MEMORY}. The property is applied each time an emulated backend opens; the
 * two libraries are two emulated devices with a capacity each.
 */
public final class Emulation {
    private Emulation() { }

    /** The emulated device's name, as cuDeviceGetName and cudaGetDeviceProperties report it. */
    public static final String DEVICE_NAME = "twophase CUDA emulator (CPU)";

    /** How the emulated backends describe themselves. */
    public static final String SUMMARY = "CPU emulation of the CUDA kernels (for testing, slow)";

    /** System property: the emulated device's memory. */
    public static final String MEMORY_PROPERTY = "twophase.emu.memory";

    /** Exported by both emulator libraries (and by nothing else): how a loaded library is recognized. */
    public static final String MARKER_SYMBOL = "tp_emu_set_device_memory";

    private static Path driver;

    /**
     * The emulated device's memory from {@value #MEMORY_PROPERTY}: bytes, or a number with a
     * {@code K}, {@code M} or {@code G} suffix; -1 when the property is not set.
     *
     * @throws BackendUnavailableException when it is set to something else
     */
    public static long configuredMemory() throws BackendUnavailableException {
        String v = System.getProperty(MEMORY_PROPERTY);
        if (v == null || v.isBlank()) return -1;
        String t = v.trim().toUpperCase(Locale.ROOT);
        long scale = switch (t.charAt(t.length() - 1)) {
            case 'K' -> 1L << 10;
            case 'M' -> 1L << 20;
            case 'G' -> 1L << 30;
            default -> 1;
        };
        if (scale != 1) t = t.substring(0, t.length() - 1);
        try {
            long n = Long.parseLong(t);
            if (n >= 0 && n <= Long.MAX_VALUE / scale) return n * scale;
        } catch (NumberFormatException ignored) {
            // reported below
        }
        throw new BackendUnavailableException(MEMORY_PROPERTY + "=" + v + ": expected a size in bytes, optionally with a K, M or G "
                + "suffix (e.g. 512M)");
    }

    /** Gives the emulator library {@code lib} the memory of {@value #MEMORY_PROPERTY}, when set. */
    public static void configureMemory(SymbolLookup lib) throws BackendUnavailableException {
        long bytes = configuredMemory();
        if (bytes < 0) return;
        MemorySegment fn = lib.find(MARKER_SYMBOL).orElseThrow(
                () -> new BackendUnavailableException("the emulator library lacks " + MARKER_SYMBOL + " (stale build?)"));
        MethodHandle set = Linker.nativeLinker().downcallHandle(fn, FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG));
        try {
            int rc = (int) set.invokeExact(bytes);
            if (rc != 0) throw new BackendUnavailableException(MARKER_SYMBOL + "(" + bytes + ") -> " + rc);
        } catch (BackendUnavailableException e) {
            throw e;
        } catch (Throwable t) {
            throw new BackendUnavailableException(MARKER_SYMBOL + ": " + t, t);
        }
    }

    /**
     * {@code tp_emu_host_waits} of an emulator library: how many calls so far made the host wait
     * for the work queued on the emulated device, as they would on a real one (synchronizations,
     * copies with a host side, frees). The emulator runs each launch at once; this count is how a
     * test sees where a binding waits.
     */
    public static long hostWaits(SymbolLookup lib) {
        MemorySegment fn = lib.find("tp_emu_host_waits").orElseThrow(
                () -> new IllegalStateException("the emulator library lacks tp_emu_host_waits (stale build?)"));
        MethodHandle get = Linker.nativeLinker().downcallHandle(fn, FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS));
        try (Arena a = Arena.ofConfined()) {
            MemorySegment count = a.allocate(ValueLayout.JAVA_LONG);
            int rc = (int) get.invokeExact(count);
            if (rc != 0) throw new IllegalStateException("tp_emu_host_waits -> " + rc);
            return count.get(ValueLayout.JAVA_LONG, 0);
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException("tp_emu_host_waits: " + t, t);
        }
    }

    /**
     * Loads the emulated {@code libcuda.so.1} from the jar ({@value NativeResources#EMU_DRIVER}),
     * once per JVM, with {@link System#load}: the dynamic loader then resolves the
     * {@code libcuda.so.1} that JCuda's natives depend on to it by its SONAME, provided they are
     * loaded after it and no other {@code libcuda.so.1} was loaded before. Returns its symbols.
     */
    public static synchronized SymbolLookup loadDriver() throws BackendUnavailableException {
        if (driver == null) {
            Path file;
            try (InputStream in = Emulation.class.getResourceAsStream(NativeResources.EMU_DRIVER)) {
                if (in == null) throw NativeResources.missing(NativeResources.EMU_DRIVER);
                Path dir = Files.createTempDirectory("twophase-emu");
                file = dir.resolve(CudaDriver.LIBRARY);
                Files.copy(in, file, StandardCopyOption.REPLACE_EXISTING);
                file.toFile().deleteOnExit();
                dir.toFile().deleteOnExit();
            } catch (IOException e) {
                throw new BackendUnavailableException("cannot extract " + NativeResources.EMU_DRIVER + ": " + e.getMessage(), e);
            }
            try {
                System.load(file.toString());
            } catch (UnsatisfiedLinkError e) {
                throw new BackendUnavailableException("cannot load the emulated driver " + file + ": " + OneLine.of(e.getMessage()), e);
            }
            driver = file;
        }
        return SymbolLookup.libraryLookup(driver, Arena.global());
    }
}
