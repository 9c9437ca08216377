package dev.twophase.data;

/**
 * A requested number of samples that cannot be had: more than the files hold, negative, or more
 * than fits in memory. {@link #part()} says which request it concerns, so that a caller can name
 * its own option (the command line says {@code --train-size} or {@code --val-size}).
 */
public final class SubsetSizeException extends IllegalArgumentException {
    /** Which subset the request was for. */
    public enum Part { TRAINING, VALIDATION }

    private final Part part;
    private final int requested;

    public SubsetSizeException(Part part, int requested, String message) {
        super(message);
        this.part = part;
        this.requested = requested;
    }

    public Part part() { return part; }

    /** The requested count (0: all). */
    public int requested() { return requested; }
}
