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
    public static Dataset.Split load(Variant variant, Path dir) throws IOException { return load(variant, dir, 0, 0); }

    /**
     * The first {@code trainSize} training and {@code valSize} validation samples (0: all); asking
     * for more than the files hold is an error (see {@link Datasets#head}).
     */
    public static Dataset.Split load(Variant variant, Path dir, int trainSize, int valSize) throws IOException {
        String n = variant.id();
        Path trainImages = locate(variant, dir, TRAIN_IMAGES), trainLabels = locate(variant, dir, TRAIN_LABELS);
        Path testImages = locate(variant, dir, TEST_IMAGES), testLabels = locate(variant, dir, TEST_LABELS);
        Datasets.checkSizes(n, trainSize, valSize);
        Dataset train = Datasets.head(read(n + "-train", trainImages, trainLabels), trainSize, n + " training");
        Dataset val = Datasets.head(read(n + "-val", testImages, testLabels), valSize, n + " validation");
        return new Dataset.Split(train, val);
    }

    /**
     * A pair of image and label files of 28x28 images with labels 0..9; the counts must agree.
     */
    public static Dataset read(String name, Path images, Path labels) throws IOException {
        Idx.Images im = Idx.readImages(images);
        if (im.rows() != ROWS || im.cols() != COLS) {
            throw new IOException(images + ": images of " + im.rows() + "x" + im.cols() + " (sizes at byte offsets 8 and 12); expected "
                    + ROWS + "x" + COLS + " for MNIST and Fashion-MNIST");
        }
        int[] y = Idx.readLabels(labels, CLASSES);
        if (y.length != im.count()) {
            throw new IOException(labels + ": " + y.length + " labels (count at byte offset 4), but " + images + " holds " + im.count()
                    + " images; expected the same count in both files of a pair");
        }
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
        if (!Files.isDirectory(dir)) {
            throw new FileNotFoundException(variant.id() + ": directory " + dir + " does not exist; " + Downloader.hint(variant.id(), dir));
        }
        throw new FileNotFoundException(variant.id() + ": cannot find " + base + " (raw or .gz); looked for " + String.join(", ",
                tried.stream().map(Path::toString).toList()) + "; " + Downloader.hint(variant.id(), dir));
    }
}
