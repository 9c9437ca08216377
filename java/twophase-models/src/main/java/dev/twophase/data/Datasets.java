package dev.twophase.data;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * The data sets by name: {@code digits} (bundled; the directory is ignored), {@code mnist},
 * {@code fashion-mnist}, {@code cifar10} and {@code cifar100} (from the directory the user names;
 * nothing is downloaded, see {@link Downloader}).
 */
public final class Datasets {
    private static final List<String> NAMES = List.of("digits", "mnist", "fashion-mnist", "cifar10", "cifar100");

    private Datasets() { }

    /** The known names. */
    public static List<String> names() { return NAMES; }

    /**
     * The train/validation split of data set {@code name}, keeping the first {@code trainSize}
     * training and {@code valSize} validation samples (0: all). Asking for more samples than there
     * are is an {@link IllegalArgumentException}, as is an unknown name (the message lists the names).
     */
    public static Dataset.Split load(String name, Path dir, int trainSize, int valSize) throws IOException {
        String n = name.trim().toLowerCase(Locale.ROOT);
        checkSizes(n, trainSize, valSize);
        return switch (n) {
            case "digits" -> {
                Dataset.Split s = Digits.loadSplit();
                yield new Dataset.Split(head(s.train(), trainSize, "digits training"), head(s.validation(), valSize, "digits validation"));
            }
            case "mnist" -> Mnist.load(Mnist.Variant.MNIST, dir, trainSize, valSize);
            case "fashion-mnist" -> Mnist.load(Mnist.Variant.FASHION, dir, trainSize, valSize);
            case "cifar10" -> Cifar.load(Cifar.Format.CIFAR10, dir, trainSize, valSize);
            case "cifar100" -> Cifar.load(Cifar.Format.CIFAR100, dir, trainSize, valSize);
            default -> throw new IllegalArgumentException("unknown data set '" + name + "'; expected one of " + String.join(", ", NAMES));
        };
    }

    /** The whole split of {@code name}. */
    public static Dataset.Split load(String name, Path dir) throws IOException { return load(name, dir, 0, 0); }

    static void checkSizes(String name, int trainSize, int valSize) {
        if (trainSize < 0 || valSize < 0) {
            throw new IllegalArgumentException(name + ": train size " + trainSize + " and validation size " + valSize + "; expected 0 (all) or a positive count");
        }
    }

    /**
     * The first {@code n} samples of {@code d} (all when n is 0); more than {@code d} holds is an
     * {@link IllegalArgumentException} naming {@code what}.
     */
    public static Dataset head(Dataset d, int n, String what) {
        if (n < 0) throw new IllegalArgumentException(what + ": " + n + " samples; expected 0 (all) or a positive count");
        if (n > d.size()) throw new IllegalArgumentException(what + ": " + n + " samples asked for, but there are " + d.size());
        return d.head(n);
    }
}
