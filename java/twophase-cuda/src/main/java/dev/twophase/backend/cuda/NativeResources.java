package dev.twophase.backend.cuda;

import dev.twophase.backend.BackendUnavailableException;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;

/**
 * The native artifacts that CMake builds and the jar carries under {@code native/}: the fatbin for
 * JCuda and the shared library for FFM (a build without nvcc has neither; then the GPU backends
 * are unavailable with that reason), and the CUDA emulation, always built: the emulated library
 * for FFM and the emulated driver for JCuda (in a directory of its own, so that it is never found
 * where the NVIDIA driver is searched for).
 */
public final class NativeResources {
    private NativeResources() { }

    public static final String FATBIN = "/native/twophase.fatbin";
    public static final String LIBRARY = "/native/libtwophase_cuda.so";
    public static final String EMU_LIBRARY = "/native/libtwophase_emu.so";
    public static final String EMU_DRIVER = "/native/emu/libcuda.so.1";

    /** Whether the jar carries the resource. */
    public static boolean has(String resource) {
        return NativeResources.class.getResource(resource) != null;
    }

    /** The bytes of a resource, or an exception saying it is not in the jar. */
    public static byte[] read(String resource) throws BackendUnavailableException {
        try (InputStream in = NativeResources.class.getResourceAsStream(resource)) {
            if (in == null) throw missing(resource);
            return in.readAllBytes();
        } catch (IOException e) {
            throw new BackendUnavailableException("cannot read " + resource + " from the jar: " + e.getMessage(), e);
        }
    }

    /** Copies a resource to a new temporary file (deleted on exit) and returns its path. */
    public static Path extract(String resource, String prefix, String suffix) throws BackendUnavailableException {
        try (InputStream in = NativeResources.class.getResourceAsStream(resource)) {
            if (in == null) throw missing(resource);
            Path file = Files.createTempFile(prefix, suffix);
            file.toFile().deleteOnExit();
            Files.copy(in, file, StandardCopyOption.REPLACE_EXISTING);
            try {
                Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rwx------"));
            } catch (UnsupportedOperationException ignored) {
                // not a POSIX file system: the default permissions will do
            }
            return file;
        } catch (IOException e) {
            throw new BackendUnavailableException("cannot extract " + resource + " to a temporary file: " + e.getMessage(), e);
        }
    }

    static BackendUnavailableException missing(String resource) {
        String name = resource.substring(resource.lastIndexOf('/') + 1);
        boolean emulated = resource.equals(EMU_LIBRARY) || resource.equals(EMU_DRIVER);
        return new BackendUnavailableException(name + " is not in the jar ("
                + (emulated ? "built without CMake" : "built without nvcc") + ": run cmake --build build before mvn package)");
    }
}
