package dev.twophase.backend.cuda;

import dev.twophase.backend.BackendUnavailableException;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;

/**
 * The CUDA artifacts that CMake builds and the jar carries under {@code native/}: the fatbin for
 * JCuda and the shared library for FFM. A build without nvcc has neither; then the GPU backends
 * are unavailable with that reason.
 */
public final class NativeResources {
    private NativeResources() { }

    public static final String FATBIN = "/native/twophase.fatbin";
    public static final String LIBRARY = "/native/libtwophase_cuda.so";

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

    private static BackendUnavailableException missing(String resource) {
        return new BackendUnavailableException(resource.substring(resource.lastIndexOf('/') + 1)
                + " is not in the jar (built without nvcc: run cmake --build build before mvn package)");
    }
}
