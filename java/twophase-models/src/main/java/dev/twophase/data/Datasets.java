package dev.twophase.data;

import java.io.FileNotFoundException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * The data sets by name: {@code digits} (bundled; the directory is ignored), {@code mnist},
 * {@code fashion-mnist}, {@code cifar10} and {@code cifar100} (from the directory the user names;
 * nothing is downloaded, see {@link Downloader}).
 * <p>
 * Every loader checks the headers and sizes of all its files first, then the requested counts
 * against them and the memory they need ({@link #checkMemory}), and only then allocates and decodes
 * the requested samples.
 */
public final class Datasets {
    private static final List<String> NAMES = List.of("digits", "mnist", "fashion-mnist", "cifar10", "cifar100");
    /** Bytes a loaded value costs in a run: the float of the host data set and its copy on the backend. */
    static final long BYTES_PER_VALUE = 8;

    private Datasets() { }

    /**
     * What to load: the first {@code trainSize} training and {@code valSize} validation samples
     * (0: all), and whether canonical files are verified against their checksums ({@link KnownFiles}).
     */
    public record Request(int trainSize, int valSize, boolean verifyChecksums) {
        public Request {
            if (trainSize < 0) throw new SubsetSizeException(SubsetSizeException.Part.TRAINING, trainSize, trainSize + " training samples; expected 0 (all) or a positive count");
            if (valSize < 0) throw new SubsetSizeException(SubsetSizeException.Part.VALIDATION, valSize, valSize + " validation samples; expected 0 (all) or a positive count");
        }

        /** Everything, checksums verified. */
        public static Request all() { return new Request(0, 0, true); }
    }

    /** The known names. */
    public static List<String> names() { return NAMES; }

    /** The known name for {@code name} (case-insensitive), or an {@link IllegalArgumentException} listing the names. */
    public static String canonicalName(String name) {
        String n = name.trim().toLowerCase(Locale.ROOT);
        if (!NAMES.contains(n)) throw new IllegalArgumentException("unknown data set '" + name + "'; expected one of " + String.join(", ", NAMES));
        return n;
    }

    /**
     * The train/validation split of data set {@code name}. Asking for more samples than there are,
     * or for more than memory holds, is a {@link SubsetSizeException}; an unknown name an
     * {@link IllegalArgumentException} listing the names.
     */
    public static Dataset.Split load(String name, Path dir, Request request) throws IOException {
        return switch (canonicalName(name)) {
            case "digits" -> {
                Dataset.Split s = Digits.loadSplit();
                yield new Dataset.Split(head(s.train(), request.trainSize(), SubsetSizeException.Part.TRAINING),
                        head(s.validation(), request.valSize(), SubsetSizeException.Part.VALIDATION));
            }
            case "mnist" -> Mnist.load(Mnist.Variant.MNIST, dir, request);
            case "fashion-mnist" -> Mnist.load(Mnist.Variant.FASHION, dir, request);
            case "cifar10" -> Cifar.load(Cifar.Format.CIFAR10, dir, request);
            default -> Cifar.load(Cifar.Format.CIFAR100, dir, request);
        };
    }

    /** The first {@code trainSize} / {@code valSize} samples (0: all), checksums verified. */
    public static Dataset.Split load(String name, Path dir, int trainSize, int valSize) throws IOException {
        return load(name, dir, new Request(trainSize, valSize, true));
    }

    /** The whole split of {@code name}. */
    public static Dataset.Split load(String name, Path dir) throws IOException { return load(name, dir, Request.all()); }

    /** The first {@code n} samples of {@code d} (all when n is 0); more than {@code d} holds is a {@link SubsetSizeException}. */
    public static Dataset head(Dataset d, int n, SubsetSizeException.Part part) {
        return d.head(count(n, d.size(), part, d.name()));
    }

    /** The number of samples a request for {@code n} of {@code available} gives: n, or all for 0; more is refused. */
    static int count(int n, long available, SubsetSizeException.Part part, String what) {
        if (n < 0) throw new SubsetSizeException(part, n, what + ": " + n + " samples; expected 0 (all) or a positive count");
        if (n > available) throw new SubsetSizeException(part, n, what + ": " + n + " samples asked for, but there are " + available);
        if (n == 0 && available > Integer.MAX_VALUE) throw new SubsetSizeException(part, n, what + ": " + available + " samples are too many for one run; ask for fewer");
        return n == 0 ? (int) available : n;
    }

    /**
     * Refuses, before anything is allocated, a request whose samples need more memory than the Java
     * heap may grow to ({@link #BYTES_PER_VALUE} per value); the larger part is blamed.
     */
    static void checkMemory(String name, int train, int val, long features) {
        long need = ((long) train + val) * features * BYTES_PER_VALUE, max = Runtime.getRuntime().maxMemory();
        if (need > max) {
            SubsetSizeException.Part part = train >= val ? SubsetSizeException.Part.TRAINING : SubsetSizeException.Part.VALIDATION;
            throw new SubsetSizeException(part, part == SubsetSizeException.Part.TRAINING ? train : val, String.format(Locale.ROOT,
                    "%s: %,d training + %,d validation samples of %,d values need about %,d MB in a run, but the Java heap may grow to %,d MB only;"
                            + " load fewer samples, or raise the limit (e.g. JAVA_TOOL_OPTIONS=-Xmx%dg)",
                    name, train, val, features, need >> 20, max >> 20, (need >> 30) + 2));
        }
    }

    /**
     * Fails when {@code dir} is not a directory: "does not exist", or "is a file", with the
     * download hint for {@code id}.
     */
    static void requireDirectory(String id, Path dir) throws FileNotFoundException {
        if (Files.isDirectory(dir)) return;
        if (Files.exists(dir)) {
            throw new FileNotFoundException(id + ": " + dir + " is a file, not a directory; name the directory that holds the " + id + " files");
        }
        throw new FileNotFoundException(id + ": directory " + dir + " does not exist; " + Downloader.hint(id, dir));
    }
}
