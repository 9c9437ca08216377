package dev.twophase.data;

import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * CIFAR-10 and CIFAR-100 in their binary versions, from a directory the user names.
 * <ul>
 *   <li>CIFAR-10 ({@code cifar-10-binary.tar.gz}): {@code data_batch_1.bin} .. {@code data_batch_5.bin}
 *   (train) and {@code test_batch.bin} (validation); each record is 1 label byte (0..9) and 3,072 pixel
 *   bytes.</li>
 *   <li>CIFAR-100 ({@code cifar-100-binary.tar.gz}): {@code train.bin} and {@code test.bin}; each record
 *   is a coarse label byte (0..19), a fine label byte (0..99) and 3,072 pixel bytes. The fine label is
 *   used: 100 classes.</li>
 * </ul>
 * The pixels are 1,024 red, then 1,024 green, then 1,024 blue values, each plane a row-major 32x32
 * image: exactly the 3x32x32 channel-major layout of {@link Dataset}. Pixels are scaled to [0, 1]
 * (value / 255). The files are looked for in the directory and in the folder the archive unpacks to
 * ({@code cifar-10-batches-bin/}, {@code cifar-100-binary/}). A file whose length is not a multiple of
 * the record size, or a label out of range, is an {@link IOException} naming the file and the offset.
 * Nothing is downloaded here; see {@link Downloader}.
 */
public final class Cifar {
    public static final int CHANNELS = 3, SIZE = 32, PIXELS = CHANNELS * SIZE * SIZE;
    public static final String CIFAR10_FOLDER = "cifar-10-batches-bin", CIFAR100_FOLDER = "cifar-100-binary";
    public static final List<String> CIFAR10_TRAIN = List.of("data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin",
            "data_batch_4.bin", "data_batch_5.bin");
    public static final String CIFAR10_TEST = "test_batch.bin", CIFAR100_TRAIN = "train.bin", CIFAR100_TEST = "test.bin";

    private Cifar() { }

    /** A binary record layout. */
    public enum Format {
        /** 1 label byte (10 classes), then the pixels. */
        CIFAR10("cifar10", 10, 0, 0),
        /** A coarse label byte (20 superclasses), a fine label byte (100 classes), then the pixels; the fine label is used. */
        CIFAR100("cifar100", 100, 1, 20);

        private final String id;
        private final int classes, labelIndex, coarseClasses;

        Format(String id, int classes, int labelIndex, int coarseClasses) {
            this.id = id;
            this.classes = classes;
            this.labelIndex = labelIndex;
            this.coarseClasses = coarseClasses;
        }

        public String id() { return id; }

        public int classes() { return classes; }

        /** Label bytes before the pixels. */
        public int labelBytes() { return labelIndex + 1; }

        /** Bytes per record: 3,073 for CIFAR-10, 3,074 for CIFAR-100. */
        public int recordSize() { return labelBytes() + PIXELS; }
    }

    /** CIFAR-10: train = data_batch_1..5 (50,000), validation = test_batch (10,000). */
    public static Dataset.Split load10(Path dir) throws IOException { return load(Format.CIFAR10, dir, 0, 0); }

    /** CIFAR-100 with the fine labels: train = train.bin (50,000), validation = test.bin (10,000). */
    public static Dataset.Split load100(Path dir) throws IOException { return load(Format.CIFAR100, dir, 0, 0); }

    /**
     * The first {@code trainSize} training and {@code valSize} validation samples (0: all) of
     * {@code format} from {@code dir}; asking for more than the files hold is an error.
     */
    public static Dataset.Split load(Format format, Path dir, int trainSize, int valSize) throws IOException {
        String n = format.id();
        List<String> trainNames = format == Format.CIFAR10 ? CIFAR10_TRAIN : List.of(CIFAR100_TRAIN);
        String testName = format == Format.CIFAR10 ? CIFAR10_TEST : CIFAR100_TEST;
        Path folder = locate(format, dir, trainNames, testName);
        Datasets.checkSizes(n, trainSize, valSize);
        List<Path> train = trainNames.stream().map(folder::resolve).toList();
        // read no more files than the requested head needs: a batch holds 10,000 records
        Dataset tr = Datasets.head(read(n + "-train", format, train, trainSize), trainSize, n + " training");
        Dataset va = Datasets.head(read(n + "-val", format, List.of(folder.resolve(testName)), valSize), valSize, n + " validation");
        return new Dataset.Split(tr, va);
    }

    /** All records of {@code files}, in order. */
    public static Dataset read(String name, Format format, List<Path> files) throws IOException { return read(name, format, files, 0); }

    /**
     * The records of {@code files} in order, stopping after {@code limit} records when limit is
     * positive (every file's length is still checked).
     */
    static Dataset read(String name, Format format, List<Path> files, int limit) throws IOException {
        int rs = format.recordSize();
        long total = 0;
        long[] records = new long[files.size()];
        for (int f = 0; f < files.size(); f++) {
            Path p = files.get(f);
            long len = Files.size(p);
            if (len == 0) throw new IOException(p + ": empty; expected records of " + rs + " bytes (" + describe(format) + ")");
            if (len % rs != 0) {
                long whole = len / rs;
                throw new IOException(p + ": " + len + " bytes is not a multiple of the " + rs + "-byte record (" + describe(format)
                        + "): a partial record of " + (len - whole * rs) + " bytes starts at byte offset " + whole * rs + " (record " + whole + ")");
            }
            records[f] = len / rs;
            total += records[f];
        }
        long n = limit > 0 ? Math.min(limit, total) : total;
        if (n * PIXELS > Idx.MAX_PAYLOAD) throw new IOException(name + ": " + n + " images are too many for one array; load a subset");
        float[] x = new float[(int) n * PIXELS];
        int[] y = new int[(int) n];
        int i = 0;
        byte[] buf = new byte[rs * 1024];
        for (int f = 0; f < files.size() && i < n; f++) {
            Path p = files.get(f);
            try (InputStream in = Files.newInputStream(p)) {
                long r = 0;
                while (r < records[f] && i < n) {
                    int batch = (int) Math.min(Math.min(1024, records[f] - r), n - i);
                    int got = in.readNBytes(buf, 0, batch * rs);
                    if (got != batch * rs) {
                        throw new IOException(p + ": data ends at byte offset " + (r * rs + got) + "; expected " + records[f] * rs
                                + " bytes (the file changed while being read?)");
                    }
                    for (int k = 0; k < batch; k++, r++, i++) {
                        int o = k * rs;
                        if (format.coarseClasses > 0 && (buf[o] & 0xff) >= format.coarseClasses) {
                            throw new IOException(p + ": coarse label " + (buf[o] & 0xff) + " at byte offset " + r * rs + " (record " + r
                                    + "); expected 0.." + (format.coarseClasses - 1));
                        }
                        int label = buf[o + format.labelIndex] & 0xff;
                        if (label >= format.classes) {
                            throw new IOException(p + ": label " + label + " at byte offset " + (r * rs + format.labelIndex) + " (record " + r
                                    + "); expected 0.." + (format.classes - 1));
                        }
                        y[i] = label;
                        int px = o + format.labelBytes(), dst = i * PIXELS;
                        for (int j = 0; j < PIXELS; j++) x[dst + j] = (buf[px + j] & 0xff) / 255f;
                    }
                }
            }
        }
        return new Dataset(name, CHANNELS, SIZE, SIZE, format.classes, x, y);
    }

    private static String describe(Format f) {
        return f == Format.CIFAR10 ? "CIFAR-10: 1 label byte + 3072 pixel bytes" : "CIFAR-100: coarse and fine label bytes + 3072 pixel bytes";
    }

    /** The folder holding all the files: {@code dir} or the archive's folder below it. */
    static Path locate(Format format, Path dir, List<String> trainNames, String testName) throws IOException {
        String sub = format == Format.CIFAR10 ? CIFAR10_FOLDER : CIFAR100_FOLDER;
        List<String> all = new ArrayList<>(trainNames);
        all.add(testName);
        List<Path> candidates = List.of(dir, dir.resolve(sub));
        for (Path d : candidates) {
            if (all.stream().allMatch(f -> Files.isRegularFile(d.resolve(f)))) return d;
        }
        String id = format.id();
        if (!Files.isDirectory(dir)) {
            throw new FileNotFoundException(id + ": directory " + dir + " does not exist; " + Downloader.hint(id, dir));
        }
        StringBuilder msg = new StringBuilder(id + ": cannot find ");
        for (Path d : candidates) {
            List<String> missing = all.stream().filter(f -> !Files.isRegularFile(d.resolve(f))).toList();
            if (missing.size() < all.size()) {
                // some files are there: name exactly what is missing
                msg.append(String.join(", ", missing)).append(" in ").append(d).append(" (the other files are there)");
                return throwMissing(msg, id, dir);
            }
        }
        msg.append(String.join(", ", all)).append(" in ").append(dir).append(" or ").append(dir.resolve(sub));
        return throwMissing(msg, id, dir);
    }

    private static Path throwMissing(StringBuilder msg, String id, Path dir) throws FileNotFoundException {
        DatasetSource src = DatasetSource.named(id);
        String archive = src.files().getFirst().name();
        if (Files.isRegularFile(dir.resolve(archive))) {
            msg.append("; ").append(dir.resolve(archive)).append(" is there but not unpacked: unpack it there (tar xzf), or run `twophase download ")
                    .append(id).append(" --dir ").append(dir).append("`, which verifies and unpacks it");
        } else {
            msg.append("; ").append(Downloader.hint(id, dir));
        }
        throw new FileNotFoundException(msg.toString());
    }
}
