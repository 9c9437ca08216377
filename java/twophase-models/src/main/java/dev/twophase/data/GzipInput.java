package dev.twophase.data;

import java.io.IOException;
import java.io.InputStream;
import java.util.zip.CRC32;
import java.util.zip.DataFormatException;
import java.util.zip.Inflater;

/**
 * A strict reader of gzip data (RFC 1952), used for every compressed file the loaders read.
 * Unlike {@link java.util.zip.GZIPInputStream} it refuses what a damaged or foreign file can
 * hide: reserved flag bits, a compression method other than deflate, a wrong header CRC, and
 * anything after the last member's trailer that is not another complete member. Every member's
 * CRC-32 and length are checked. Errors are {@link DataFileException}s naming the source and the
 * byte offset in the compressed data.
 */
final class GzipInput extends InputStream {
    private static final int FHCRC = 2, FEXTRA = 4, FNAME = 8, FCOMMENT = 16, RESERVED = 0xE0;

    private final InputStream raw;
    private final String source;
    private final Inflater inflater = new Inflater(true);
    private final CRC32 crc = new CRC32(), headerCrc = new CRC32();
    private final byte[] buf = new byte[1 << 16];
    private long base;   // compressed offset of buf[0]
    private int pos, lim;
    private long memberStart, memberSize;
    private boolean inHeader, done;

    /** Reads the first member's header at once, so that a file that is not gzip fails here. */
    GzipInput(InputStream raw, String source) throws IOException {
        this.raw = raw;
        this.source = source;
        member();
    }

    /** Compressed bytes consumed so far. */
    long compressedOffset() { return base + pos; }

    private DataFileException error(long offset, String what) {
        return new DataFileException(source, offset, source + ": " + what);
    }

    private boolean fill() throws IOException {
        base += lim;
        pos = 0;
        int n = raw.read(buf, 0, buf.length);
        lim = Math.max(n, 0);
        return n > 0;
    }

    private int header(String field) throws IOException {
        if (pos == lim && !fill()) {
            throw error(compressedOffset(), "the gzip header of the member at byte offset " + memberStart + " is truncated: the file ends at byte offset "
                    + compressedOffset() + " inside its " + field);
        }
        int b = buf[pos++] & 0xff;
        if (inHeader) headerCrc.update(b);
        return b;
    }

    /** Parses a member header and prepares the inflater for its deflate data. */
    private void member() throws IOException {
        memberStart = compressedOffset();
        inHeader = true;
        headerCrc.reset();
        int id1 = header("magic"), id2 = header("magic");
        if (id1 != 0x1f || id2 != 0x8b) {
            String what = memberStart == 0 ? "not gzip data: it starts with " + String.format("%02x %02x", id1, id2) + "; expected 1f 8b"
                    : "unexpected data at byte offset " + memberStart + " after the end of the gzip stream (bytes "
                    + String.format("%02x %02x", id1, id2) + "); the file should end there";
            throw error(memberStart, what);
        }
        int cm = header("compression method");
        if (cm != 8) throw error(memberStart + 2, "gzip compression method " + cm + " at byte offset " + (memberStart + 2) + "; expected 8 (deflate)");
        int flg = header("flags");
        if ((flg & RESERVED) != 0) {
            throw error(memberStart + 3, String.format("reserved gzip flag bits 0x%02X set at byte offset %d (flags 0x%02X); expected them clear",
                    flg & RESERVED, memberStart + 3, flg));
        }
        for (int i = 0; i < 6; i++) header("time, extra flags and OS fields");
        if ((flg & FEXTRA) != 0) {
            int xlen = header("extra field length") | header("extra field length") << 8;
            for (int i = 0; i < xlen; i++) header("extra field");
        }
        if ((flg & FNAME) != 0) while (header("file name") != 0) { }
        if ((flg & FCOMMENT) != 0) while (header("comment") != 0) { }
        if ((flg & FHCRC) != 0) {
            long at = compressedOffset();
            int expected = (int) (headerCrc.getValue() & 0xffff);
            inHeader = false;
            int stored = header("header CRC") | header("header CRC") << 8;
            if (stored != expected) {
                throw error(at, String.format("gzip header CRC 0x%04X at byte offset %d; the header gives 0x%04X", stored, at, expected));
            }
        }
        inHeader = false;
        inflater.reset();
        inflater.setInput(buf, pos, lim - pos);
        crc.reset();
        memberSize = 0;
    }

    @Override public int read() throws IOException {
        byte[] one = new byte[1];
        return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
    }

    @Override public int read(byte[] b, int off, int len) throws IOException {
        if (len == 0) return 0;
        while (!done) {
            int n;
            try {
                n = inflater.inflate(b, off, len);
            } catch (DataFormatException e) {
                pos = lim - inflater.getRemaining();
                throw error(compressedOffset(), "corrupt gzip data: bad deflate data near byte offset " + compressedOffset() + " (" + e.getMessage() + ")");
            }
            pos = lim - inflater.getRemaining();
            if (n > 0) {
                crc.update(b, off, n);
                memberSize += n;
                return n;
            }
            if (inflater.finished()) {
                trailer();
                if (pos == lim && !fill()) done = true;
                else member();
            } else if (inflater.needsDictionary()) {
                throw error(compressedOffset(), "deflate data near byte offset " + compressedOffset() + " asks for a preset dictionary, which gzip never uses");
            } else if (inflater.needsInput()) {
                if (!fill()) {
                    throw error(compressedOffset(), "the compressed data ends at byte offset " + compressedOffset()
                            + " inside a deflate stream (the file is truncated)");
                }
                inflater.setInput(buf, pos, lim - pos);
            }
        }
        return -1;
    }

    private void trailer() throws IOException {
        long at = compressedOffset();
        long storedCrc = 0, storedSize = 0;
        for (int i = 0; i < 4; i++) storedCrc |= (long) trailerByte(at) << (8 * i);
        for (int i = 0; i < 4; i++) storedSize |= (long) trailerByte(at) << (8 * i);
        if (storedCrc != crc.getValue()) {
            throw error(at, String.format("corrupt gzip data: the trailer at byte offset %d gives the CRC-32 %08x, the data %08x",
                    at, storedCrc, crc.getValue()));
        }
        if (storedSize != (memberSize & 0xffffffffL)) {
            throw error(at + 4, "corrupt gzip data: the trailer at byte offset " + (at + 4) + " gives a length of " + storedSize + " bytes (mod 2^32), the data has "
                    + memberSize);
        }
    }

    private int trailerByte(long trailerStart) throws IOException {
        if (pos == lim && !fill()) {
            throw error(compressedOffset(), "the gzip trailer at byte offset " + trailerStart + " is truncated: the file ends at byte offset " + compressedOffset());
        }
        return buf[pos++] & 0xff;
    }

    @Override public void close() throws IOException {
        inflater.end();
        raw.close();
    }
}
