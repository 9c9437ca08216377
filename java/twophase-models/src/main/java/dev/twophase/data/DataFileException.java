package dev.twophase.data;

import java.io.IOException;

/**
 * A data file that does not hold what its format promises: a bad header, a size that does not
 * match the file, a label out of range, damaged compression, a wrong checksum. The message names
 * the file, the byte offset and what was expected; {@link #file()} and {@link #offset()} give them
 * to code. For gzip files the offset counts compressed bytes when the compression itself is
 * damaged, and decompressed bytes when the content is (the message says which).
 */
public class DataFileException extends IOException {
    private final String file;
    private final long offset;

    /** {@code offset} is -1 when the problem concerns the file as a whole (a checksum). */
    public DataFileException(String file, long offset, String message) {
        this(file, offset, message, null);
    }

    public DataFileException(String file, long offset, String message, Throwable cause) {
        super(message, cause);
        this.file = file;
        this.offset = offset;
    }

    /** The file, as named in the message. */
    public String file() { return file; }

    /** The byte offset of the problem, or -1 for the file as a whole. */
    public long offset() { return offset; }
}
