package dev.twophase.data;

import java.net.URI;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.regex.Pattern;

/**
 * Where a data set is downloaded from: a base URL, the files below it with their MD5 digests, and
 * whether each file is a {@code .tar.gz} archive to unpack into the target directory.
 * <p>
 * The built-in sources are the canonical ones, and their digests are the MD5s that torchvision
 * publishes for the same files ({@code torchvision.datasets.MNIST}, {@code FashionMNIST},
 * {@code CIFAR10}, {@code CIFAR100}); MD5 guards here against corrupt or substituted downloads as
 * torchvision uses it, not against a deliberate attacker.
 * <ul>
 *   <li>MNIST: the torchvision mirror {@code https://ossci-datasets.s3.amazonaws.com/mnist/} of the
 *   four gzip IDX files (the original site, yann.lecun.com, now refuses downloads);</li>
 *   <li>Fashion-MNIST: Zalando Research's {@code http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/}
 *   (only served over http; the digests protect the content);</li>
 *   <li>CIFAR-10 and CIFAR-100: the binary archives at {@code https://www.cs.toronto.edu/~kriz/}, which
 *   unpack to {@code cifar-10-batches-bin/} and {@code cifar-100-binary/}.</li>
 * </ul>
 */
public record DatasetSource(String name, String title, URI base, List<RemoteFile> files) {
    private static final Pattern MD5 = Pattern.compile("[0-9a-f]{32}");

    /** A file below {@link #base()}: its name, its MD5 (32 lowercase hex digits), and whether to unpack it (tar.gz). */
    public record RemoteFile(String name, String md5, boolean archive) {
        public RemoteFile {
            Objects.requireNonNull(name);
            if (name.isEmpty() || name.contains("/") || name.contains("\\") || name.equals("..") || name.equals(".")) {
                throw new IllegalArgumentException("file name '" + name + "'; expected a plain file name");
            }
            if (!MD5.matcher(md5).matches()) throw new IllegalArgumentException(name + ": MD5 '" + md5 + "'; expected 32 lowercase hex digits");
        }
    }

    public DatasetSource {
        Objects.requireNonNull(name);
        Objects.requireNonNull(title);
        if (!base.isAbsolute() || !base.toString().endsWith("/")) throw new IllegalArgumentException(name + ": base URL " + base + " must be absolute and end with /");
        files = List.copyOf(files);
        if (files.isEmpty()) throw new IllegalArgumentException(name + ": no files");
    }

    /** The URL of {@code file}. */
    public URI uri(RemoteFile file) { return base.resolve(file.name()); }

    public static final DatasetSource MNIST = new DatasetSource("mnist", "MNIST", URI.create("https://ossci-datasets.s3.amazonaws.com/mnist/"),
            idxGz("f68b3c2dcbeaaa9fbdd348bbdeb94873", "d53e105ee54ea40749a09fcbcd1e9432", "9fb629c4189551a2d022fa330f9573f3", "ec29112dd5afa0611ce80d1b7f02629c"));

    public static final DatasetSource FASHION_MNIST = new DatasetSource("fashion-mnist", "Fashion-MNIST",
            URI.create("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"),
            idxGz("8d4fb7e6c68d591d4c3dfef9ec88bf0d", "25c81989df183df01b3e8a0aad5dffbe", "bef4ecab320f06d8554ea6380940ec79", "bb300cfdad3c16e7a12a480ee83cd310"));

    /** The four gzipped IDX files of MNIST and Fashion-MNIST (the same names), with their MD5s. */
    private static List<RemoteFile> idxGz(String trainImages, String trainLabels, String testImages, String testLabels) {
        return List.of(new RemoteFile("train-images-idx3-ubyte.gz", trainImages, false),
                new RemoteFile("train-labels-idx1-ubyte.gz", trainLabels, false),
                new RemoteFile("t10k-images-idx3-ubyte.gz", testImages, false),
                new RemoteFile("t10k-labels-idx1-ubyte.gz", testLabels, false));
    }

    public static final DatasetSource CIFAR10 = new DatasetSource("cifar10", "CIFAR-10 (binary version)",
            URI.create("https://www.cs.toronto.edu/~kriz/"), List.of(
            new RemoteFile("cifar-10-binary.tar.gz", "c32a1d4ab5d03f1284b67883e8d87530", true)));

    public static final DatasetSource CIFAR100 = new DatasetSource("cifar100", "CIFAR-100 (binary version)",
            URI.create("https://www.cs.toronto.edu/~kriz/"), List.of(
            new RemoteFile("cifar-100-binary.tar.gz", "03b5dce01913d631647c71ecec9e9cb8", true)));

    /** The built-in sources. */
    public static List<DatasetSource> all() { return List.of(MNIST, FASHION_MNIST, CIFAR10, CIFAR100); }

    /** The built-in source called {@code name} (case-insensitive); unknown names list the known ones. */
    public static DatasetSource named(String name) {
        String n = name.trim().toLowerCase(Locale.ROOT);
        for (DatasetSource s : all()) if (s.name.equals(n)) return s;
        throw new IllegalArgumentException("no download source for data set '" + name + "'; expected one of "
                + String.join(", ", all().stream().map(DatasetSource::name).toList()));
    }
}
