package dev.twophase.experiment;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.DirectoryStream;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The folder a comparison writes to, with one writer at a time.
 * <ul>
 *   <li>{@link #open} creates it if missing, refuses a file or a folder it cannot write, and takes
 *   an exclusive lock on {@value #LOCK} inside it (an OS file lock, released even when the process
 *   is killed): a second process on the same folder fails at once with the first one's pid.</li>
 *   <li>Every file is written to a temporary name unique to this process and write
 *   ({@code .NAME.twophase-PID-N.tmp}) and renamed into place, so readers never see half a file.
 *   Temporary files still present when the JVM exits (a second Ctrl-C, an error) are deleted by a
 *   shutdown hook; those of a killed process are deleted by the next {@link #open} of the folder,
 *   which holds the lock and so knows that no one else writes them.</li>
 *   <li>A folder that {@link #open} created and into which nothing was written is removed again on
 *   {@link #close}, or by the exit hook when the JVM exits with it open (Ctrl-C while the data load).</li>
 * </ul>
 * A later {@code resume} opens the same folder the same way and finds its state in it.
 */
public final class OutputFolder implements AutoCloseable {
    /** The lock file's name. */
    public static final String LOCK = ".twophase.lock";
    private static final String TEMP_MARK = ".twophase-";
    private static final Set<Path> TEMPS = ConcurrentHashMap.newKeySet();
    /** The folders open now: those the JVM exits with (a signal) are cleaned up by the exit hook. */
    private static final Set<OutputFolder> OPEN = ConcurrentHashMap.newKeySet();
    /** The folders {@link #open} has created and not yet returned (or refused): the exit hook removes them too. */
    private static final Set<Path> CREATING = ConcurrentHashMap.newKeySet();
    private static final AtomicLong COUNTER = new AtomicLong();
    private static final long PID = ProcessHandle.current().pid();
    /** How long the exit hook waits for writes in progress to finish or fail (and so clean up). */
    private static final long EXIT_WAIT_MS = 3_000;
    private static final Object WRITES = new Object();
    private static int writesInFlight;
    private static boolean exiting;

    static {
        Runtime.getRuntime().addShutdownHook(new Thread(OutputFolder::deleteTemporaries, "twophase-temporary-files"));
    }

    private final Path dir;
    /** How messages name this folder: "--out DIR", "resume DIR". */
    private final String what;
    private final FileChannel channel;
    private final FileLock lock;
    private final boolean created;
    private volatile boolean written;

    private OutputFolder(Path dir, String what, FileChannel channel, FileLock lock, boolean created) {
        this.dir = dir;
        this.what = what;
        this.channel = channel;
        this.lock = lock;
        this.created = created;
    }

    /**
     * Opens {@code dir} for writing; {@code option} (such as {@code --out}) starts every message.
     * A path that is a file, or a folder that cannot be created or written, is an
     * {@link IllegalArgumentException}; a folder another process holds is an {@link IOException}.
     */
    public static OutputFolder open(Path dir, String option) throws IOException {
        String what = option + " " + dir;
        if (dir.toString().isEmpty()) throw new IllegalArgumentException(option + " '': an empty path; expected a folder (. for the current one)");
        if (Files.exists(dir) && !Files.isDirectory(dir)) throw new IllegalArgumentException(what + ": is a file; expected a folder (created if missing)");
        if (Files.isSymbolicLink(dir) && !Files.exists(dir)) {
            throw new IllegalArgumentException(what + ": is a symbolic link to " + Files.readSymbolicLink(dir)
                    + ", which does not exist; expected a folder (create the link's target, or remove the link)");
        }
        boolean created = !Files.exists(dir);
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new IllegalArgumentException(what + ": cannot create the folder (" + reason(e) + ")", e);
        }
        if (created) CREATING.add(dir);
        try {
            return lock(dir, what, option, created);
        } finally {
            CREATING.remove(dir);
        }
    }

    private static OutputFolder lock(Path dir, String what, String option, boolean created) throws IOException {
        Path lockFile = dir.resolve(LOCK);
        FileChannel ch;
        try {
            ch = FileChannel.open(lockFile, StandardOpenOption.CREATE, StandardOpenOption.READ, StandardOpenOption.WRITE);
        } catch (IOException e) {
            throw new IllegalArgumentException(what + ": cannot open its lock file " + lockFile + " (" + (Files.isDirectory(lockFile, LinkOption.NOFOLLOW_LINKS)
                    ? FOLDER_IN_THE_WAY : reason(e)) + ")", e);
        }
        FileLock lock;
        try {
            lock = ch.tryLock();
        } catch (OverlappingFileLockException e) {
            lock = null;
        } catch (IOException e) {
            ch.close();
            throw e;
        }
        if (lock == null) {
            String holder = Files.readString(lockFile, StandardCharsets.UTF_8).strip();
            ch.close();
            throw new IOException(what + ": in use by another twophase run (" + (holder.isEmpty() ? "lock " + lockFile : holder)
                    + "); wait for it to finish" + (option.startsWith("--") ? ", or choose another " + option : ""));
        }
        ch.truncate(0);
        ch.write(ByteBuffer.wrap(("pid " + PID + ", started " + Instant.now()).getBytes(StandardCharsets.UTF_8)), 0);
        OutputFolder f = new OutputFolder(dir, what, ch, lock, created);
        f.deleteStaleTemporaries();
        OPEN.add(f);
        return f;
    }

    /**
     * Why a file operation failed, in words: the system's reason where it gave one ("Permission
     * denied", "No space left on device"), else what the exception's kind means.
     */
    public static String reason(IOException e) {
        if (e instanceof FileSystemException fe && fe.getReason() != null) return fe.getReason();
        return switch (e) {
            case NoSuchFileException x -> "no such file or folder";
            case FileAlreadyExistsException x -> "something of that name is already there";
            case DirectoryNotEmptyException x -> "a folder of that name, not empty, is in the way";
            case AccessDeniedException x -> "permission denied";
            case NotDirectoryException x -> "not a folder";
            case FileSystemException x -> "the file system refused";
            default -> e.getMessage() != null ? e.getMessage() : "an I/O error";
        };
    }

    /** What is in the way when {@code file} is a folder, where a file was expected. */
    static final String FOLDER_IN_THE_WAY = "a folder of that name is in the way; expected a file, or nothing, there";

    public Path dir() { return dir; }

    /** Whether {@link #open} created the folder (and so removes it again if nothing is written into it). */
    public boolean created() { return created; }

    /** Whether no file has been written into the folder, nor is being written, by this process. */
    public boolean wroteNothing() {
        synchronized (WRITES) {
            return !written && writesInFlight == 0;
        }
    }

    public Path resolve(String name) { return dir.resolve(name); }

    /**
     * Refuses ({@link IllegalArgumentException}, naming each) a folder where one of {@code names} is
     * to be written: checked when a command takes its folder, so that it is not found only by the
     * write after the training time is spent.
     */
    public void refuseFoldersInTheWay(List<String> names) {
        List<String> inTheWay = names.stream().map(dir::resolve).filter(p -> Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS))
                .map(p -> "cannot write " + p + " (" + FOLDER_IN_THE_WAY + ")").toList();
        if (!inTheWay.isEmpty()) throw new IllegalArgumentException(what + ": " + String.join("; ", inTheWay));
    }

    /** Writes a file: the writer fills a unique temporary file, which is then renamed to {@code name}. */
    public void write(String name, Writer writer) throws IOException {
        synchronized (WRITES) {
            if (exiting) throw new IOException(dir.resolve(name) + ": not written, the JVM is exiting");
            writesInFlight++;
        }
        Path tmp = dir.resolve("." + name + TEMP_MARK + PID + "-" + COUNTER.incrementAndGet() + ".tmp");
        TEMPS.add(tmp);
        Path target = dir.resolve(name);
        try {
            writer.write(tmp);
            try {
                Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING);
            }
            written = true;
        } catch (IOException e) {
            throw new IOException(target + ": not written (" + (Files.isDirectory(target, LinkOption.NOFOLLOW_LINKS)
                    ? FOLDER_IN_THE_WAY : reason(e)) + ")", e);
        } finally {
            try {
                Files.deleteIfExists(tmp);
                TEMPS.remove(tmp);
            } finally {
                synchronized (WRITES) {
                    writesInFlight--;
                    WRITES.notifyAll();
                }
            }
        }
    }

    /** Writes {@code text} as UTF-8 to {@code name}, atomically. */
    public void writeString(String name, String text) throws IOException {
        write(name, tmp -> Files.writeString(tmp, text, StandardCharsets.UTF_8));
    }

    /**
     * Writes a file like {@link #write}, and flushes it to the disk before the rename (and the
     * folder after it), so that even a power loss leaves the old file or the new one, never an
     * empty or partial one.
     */
    public void writeDurably(String name, Content content) throws IOException {
        write(name, tmp -> {
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING, StandardOpenOption.WRITE)) {
                content.write(Channels.newOutputStream(ch));
                ch.force(true);
            }
        });
        try (FileChannel folder = FileChannel.open(dir, StandardOpenOption.READ)) {
            folder.force(true);
        } catch (IOException notSupported) {
            // not every platform opens folders; the file itself is on the disk
        }
    }

    /** Fills a stream (which the caller closes). */
    @FunctionalInterface
    public interface Content {
        void write(OutputStream out) throws IOException;
    }

    /** Deletes the named files where present; a folder of such a name is not deleted but refused. */
    public void delete(String... names) throws IOException {
        for (String n : names) {
            Path p = dir.resolve(n);
            if (Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS)) throw new IOException(p + ": not deleted (" + FOLDER_IN_THE_WAY + ")");
            try {
                Files.deleteIfExists(p);
            } catch (IOException e) {
                throw new IOException(p + ": not deleted (" + reason(e) + ")", e);
            }
        }
    }

    /** Fills a temporary file. */
    @FunctionalInterface
    public interface Writer {
        void write(Path temporaryFile) throws IOException;
    }

    private void deleteStaleTemporaries() throws IOException {
        try (DirectoryStream<Path> s = Files.newDirectoryStream(dir, "." + "*" + TEMP_MARK + "*.tmp")) {
            for (Path p : s) Files.deleteIfExists(p);
        }
    }

    /**
     * The exit hook. Other threads still run while it does: a write in progress could create its
     * temporary file after a plain delete. So new writes are refused, those in progress are given a
     * moment to finish (each removes its own temporary file), and what is left is deleted. A folder
     * still open that this process created and wrote nothing into is removed, as {@link #close} does.
     */
    static void deleteTemporaries() {
        synchronized (WRITES) {
            exiting = true;
            long deadline = System.nanoTime() + EXIT_WAIT_MS * 1_000_000;
            try {
                for (long left; writesInFlight > 0 && (left = deadline - System.nanoTime()) > 0; ) {
                    WRITES.wait(Math.max(1, left / 1_000_000));
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        for (Path p : TEMPS) {
            try {
                Files.deleteIfExists(p);
            } catch (IOException ignored) {
                // best effort while the JVM exits
            }
        }
        for (OutputFolder f : OPEN) f.removeIfUnused();
        for (Path dir : CREATING) removeCreated(dir);
    }

    /** Releases the lock; a folder created by {@link #open} that got no file is removed. */
    @Override public void close() throws IOException {
        OPEN.remove(this);
        try {
            removeIfUnused();
        } finally {
            lock.release();
            channel.close();
        }
    }

    /** Removes the folder if {@link #open} created it and nothing was written into it. */
    private void removeIfUnused() {
        if (created && !written) removeCreated(dir);
    }

    /**
     * Removes a folder {@link #open} created, with its lock file unless another process's pid is in
     * it (a second run that took the folder while this one opened it); a folder not empty stays.
     */
    private static void removeCreated(Path dir) {
        try {
            Path lockFile = dir.resolve(LOCK);
            String holder = Files.isRegularFile(lockFile, LinkOption.NOFOLLOW_LINKS) ? Files.readString(lockFile, StandardCharsets.UTF_8) : "";
            if (holder.isEmpty() || holder.startsWith("pid " + PID + ",")) Files.deleteIfExists(lockFile);
            Files.deleteIfExists(dir);
        } catch (IOException notEmpty) {
            // someone put something there, or the lock cannot go: leave it
        }
    }
}
