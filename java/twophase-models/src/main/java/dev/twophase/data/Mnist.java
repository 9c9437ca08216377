package dev.twophase.data;

import java.io.FileNotFoundException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * MNIST and Fashion-MNIST from IDX files in a directory the user names (gzip or raw, see {@link Idx}):
 * {@code train-images-idx3-ubyte}, {@code train-labels-idx1-ubyte}, {@code t10k-images-idx3-ubyte} and
 * {@code t10k-labels-idx1-ubyte}, each optionally with {@code .gz}. Both data sets use these names,
 * so each needs its own directory. The files are looked for in the directory itself and in
 * torchvision's layout below it ({@code MNIST/raw/} or {@code FashionMNIST/raw/}).
 * <p>
 * The split is the official one: train = the 60,000 images of the train files, validation = the
 * 10,000 of the t10k files. Images are 1x28x28 with pixels scaled to [0, 1] (value / 255), 10 classes.
 * Nothing is downloaded here; see {@link Downloader}.
 */
public final class Mnist {
    public static final String TRAIN_IMAGES = "train-images-idx3-ubyte", TRAIN_LABELS = "train-labels-idx1-ubyte",
            TEST_IMAGES = "t10k-images-idx3-ubyte", TEST_LABELS = "t10k-labels-idx1-ubyte";
    public static final int ROWS = 28, COLS = 28, CLASSES = 10;

    private Mnist() { }

    /** The two data sets in this format: the name used by {@link Datasets} and torchvision's folder name. */
    public enum Variant {
        MNIST("mnist", "MNIST"), FASHION("fashion-mnist", "FashionMNIST");

        private final String id, torchvisionFolder;

        Variant(String id, String torchvisionFolder) {
            this.id = id;
            this.torchvisionFolder = torchvisionFolder;
        }

        /** The data-set name: mnist or fashion-mnist. */
        public String id() { return id; }
    }

    /** MNIST from {@code dir}. */
    public static Dataset.Split load(Path dir) throws IOException { return load(Variant.MNIST, dir); }

    /** Fashion-MNIST from {@code dir}. */
    public static Dataset.Split loadFashion(Path dir) throws IOException { return load(Variant.FASHION, dir); }

    /** The full official split of {@code variant} from {@code dir}. */
    public static Dataset.Split load(Variant variant, Path dir) throws IOException { return load(variant, dir, Datasets.Request.all()); }

    /** The first {@code trainSize} training and {@code valSize} validation samples (0: all), checksums verified. */
    public static Dataset.Split load(Variant variant, Path dir, int trainSize, int valSize) throws IOException {
        return load(variant, dir, new Datasets.Request(trainSize, valSize, true));
    }

    /**
     * The requested samples of {@code variant} from {@code dir}. All four files are found and their
     * headers checked before anything is decoded; asking for more than the files hold is a
     * {@link SubsetSizeException}. Canonical files are verified ({@link KnownFiles}, unless the
     * request says not to) in the pass that decodes them: a mismatch refuses the load.
     */
    public static Dataset.Split load(Variant variant, Path dir, Datasets.Request request) throws IOException {
        String n = variant.id();
        Path trainImages = locate(variant, dir, TRAIN_IMAGES), trainLabels = locate(variant, dir, TRAIN_LABELS);
        Path testImages = locate(variant, dir, TEST_IMAGES), testLabels = locate(variant, dir, TEST_LABELS);
        int trainCount = pairCount(trainImages, trainLabels), valCount = pairCount(testImages, testLabels);
        int train = Datasets.count(request.trainSize(), trainCount, SubsetSizeException.Part.TRAINING, n + " training");
        int val = Datasets.count(request.valSize(), valCount, SubsetSizeException.Part.VALIDATION, n + " validation");
        Datasets.checkMemory(n, train, val, ROWS * COLS);
        String verify = request.verifyChecksums() ? n : null;
        return new Dataset.Split(read(n + "-train", trainImages, trainLabels, train, verify), read(n + "-val", testImages, testLabels, val, verify));
    }

    /** Checks both headers of a pair (28x28 images, equal counts) and returns the count. */
    static int pairCount(Path images, Path labels) throws IOException {
        Idx.Header im = Idx.readHeader(images, Idx.IMAGES_MAGIC);
        if (im.itemShape()[0] != ROWS || im.itemShape()[1] != COLS) {
            throw new DataFileException(images.toString(), 8, images + ": images of " + im.itemShape()[0] + "x" + im.itemShape()[1]
                    + " (sizes at byte offsets 8 and 12); expected " + ROWS + "x" + COLS + " for MNIST and Fashion-MNIST");
        }
        Idx.Header lb = Idx.readHeader(labels, Idx.LABELS_MAGIC);
        if (lb.count() != im.count()) {
            throw new DataFileException(labels.toString(), 4, labels + ": " + lb.count() + " labels (count at byte offset 4), but " + images + " holds "
                    + im.count() + " images; expected the same count in both files of a pair");
        }
        return im.count();
    }

    /** A pair of image and label files of 28x28 images with labels 0..9; the counts must agree. */
    public static Dataset read(String name, Path images, Path labels) throws IOException {
        return read(name, images, labels, pairCount(images, labels), null);
    }

    /**
     * The first {@code n} samples of a pair (checked with {@link #pairCount} first); every label is
     * checked, and each file that is a canonical copy of data set {@code verify} ({@link KnownFiles};
     * null: none checked) is verified as it is read.
     */
    static Dataset read(String name, Path images, Path labels, int n, String verify) throws IOException {
        Idx.Images im = Idx.readImages(images, n, verify == null ? null : KnownFiles.candidate(images, verify));
        int[] y = Idx.readLabels(labels, CLASSES, n, verify == null ? null : KnownFiles.candidate(labels, verify));
        return new Dataset(name, 1, ROWS, COLS, CLASSES, im.scaled(), y);
    }

    /** Where {@code base} or {@code base.gz} is, in {@code dir} or {@code dir/<torchvision folder>/raw}. */
    static Path locate(Variant variant, Path dir, String base) throws IOException {
        List<Path> tried = new ArrayList<>();
        for (Path d : List.of(dir, dir.resolve(variant.torchvisionFolder).resolve("raw"))) {
            for (String f : List.of(base, base + ".gz")) {
                Path p = d.resolve(f);
                if (Files.isRegularFile(p)) return p;
                tried.add(p);
            }
        }
        Datasets.requireDirectory(variant.id(), dir);
        throw new FileNotFoundException(variant.id() + ": cannot find " + base + " (raw or .gz); looked for " + String.join(", ",
                tried.stream().map(Path::toString).toList()) + "; " + Downloader.hint(variant.id(), dir));
    }
}
