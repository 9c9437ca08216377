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
 * the record size, or a label out of range in any record of any file (also past a requested subset),
 * is a {@link DataFileException} naming the file and the offset.
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
    public static Dataset.Split load10(Path dir) throws IOException { return load(Format.CIFAR10, dir, Datasets.Request.all()); }

    /** CIFAR-100 with the fine labels: train = train.bin (50,000), validation = test.bin (10,000). */
    public static Dataset.Split load100(Path dir) throws IOException { return load(Format.CIFAR100, dir, Datasets.Request.all()); }

    /** The first {@code trainSize} training and {@code valSize} validation samples (0: all). */
    public static Dataset.Split load(Format format, Path dir, int trainSize, int valSize) throws IOException {
        return load(format, dir, new Datasets.Request(trainSize, valSize, true));
    }

    /**
     * The requested samples of {@code format} from {@code dir}: every file's length is checked
     * before anything is allocated, only the requested samples are decoded, and every label of every
     * file is checked. No checksum is known for the unpacked files ({@link KnownFiles}).
     */
    public static Dataset.Split load(Format format, Path dir, Datasets.Request request) throws IOException {
        String n = format.id();
        List<String> trainNames = format == Format.CIFAR10 ? CIFAR10_TRAIN : List.of(CIFAR100_TRAIN);
        String testName = format == Format.CIFAR10 ? CIFAR10_TEST : CIFAR100_TEST;
        Path folder = locate(format, dir, trainNames, testName);
        List<Path> train = trainNames.stream().map(folder::resolve).toList(), test = List.of(folder.resolve(testName));
        long trainRecords = records(format, train), testRecords = records(format, test);
        int tr = Datasets.count(request.trainSize(), trainRecords, SubsetSizeException.Part.TRAINING, n + " training");
        int va = Datasets.count(request.valSize(), testRecords, SubsetSizeException.Part.VALIDATION, n + " validation");
        Datasets.checkMemory(n, tr, va, PIXELS);
        return new Dataset.Split(read(n + "-train", format, train, tr), read(n + "-val", format, test, va));
    }

    /** All records of {@code files}, in order. */
    public static Dataset read(String name, Format format, List<Path> files) throws IOException {
        long total = records(format, files);
        return read(name, format, files, Datasets.count(0, total, SubsetSizeException.Part.TRAINING, name));
    }

    /** The records in {@code files}, after checking that each file is a whole number of records. */
    static long records(Format format, List<Path> files) throws IOException {
        int rs = format.recordSize();
        long total = 0;
        for (Path p : files) {
            long len = Files.size(p);
            if (len == 0) throw new DataFileException(p.toString(), 0, p + ": empty; expected records of " + rs + " bytes (" + describe(format) + ") from byte offset 0");
            if (len % rs != 0) {
                long whole = len / rs;
                throw new DataFileException(p.toString(), whole * rs, p + ": " + len + " bytes is not a multiple of the " + rs + "-byte record ("
                        + describe(format) + "): a partial record of " + (len - whole * rs) + " bytes starts at byte offset " + whole * rs + " (record " + whole + ")");
            }
            total += len / rs;
        }
        return total;
    }

    /**
     * The first {@code n} records of {@code files} in order (their lengths checked by
     * {@link #records}); every later record's labels are read and checked too, its pixels skipped.
     */
    static Dataset read(String name, Format format, List<Path> files, int n) throws IOException {
        int rs = format.recordSize();
        if ((long) n * PIXELS > Idx.MAX_PAYLOAD) throw new IllegalArgumentException(name + ": " + n + " images are too many for one array; load fewer");
        float[] x = new float[n * PIXELS];
        int[] y = new int[n];
        int i = 0;
        byte[] buf = new byte[rs * 256];
        for (Path p : files) {
            long records = Files.size(p) / rs;
            try (InputStream in = Files.newInputStream(p)) {
                for (long r = 0; r < records; ) {
                    int batch = (int) Math.min(256, records - r);
                    int got = in.readNBytes(buf, 0, batch * rs);
                    if (got != batch * rs) {
                        throw new DataFileException(p.toString(), r * rs + got, p + ": data ends at byte offset " + (r * rs + got) + "; expected "
                                + records * rs + " bytes (the file changed while being read?)");
                    }
                    for (int k = 0; k < batch; k++, r++) {
                        int o = k * rs;
                        if (format.coarseClasses > 0 && (buf[o] & 0xff) >= format.coarseClasses) {
                            throw new DataFileException(p.toString(), r * rs, p + ": coarse label " + (buf[o] & 0xff) + " at byte offset " + r * rs
                                    + " (record " + r + "); expected 0.." + (format.coarseClasses - 1));
                        }
                        int label = buf[o + format.labelIndex] & 0xff;
                        if (label >= format.classes) {
                            long at = r * rs + format.labelIndex;
                            throw new DataFileException(p.toString(), at, p + ": label " + label + " at byte offset " + at + " (record " + r
                                    + "); expected 0.." + (format.classes - 1));
                        }
                        if (i < n) {
                            y[i] = label;
                            int px = o + format.labelBytes(), dst = i * PIXELS;
                            for (int j = 0; j < PIXELS; j++) x[dst + j] = (buf[px + j] & 0xff) / 255f;
                            i++;
                        }
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
        Datasets.requireDirectory(id, dir);
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
