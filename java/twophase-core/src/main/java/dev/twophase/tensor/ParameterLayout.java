package dev.twophase.tensor;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The layout of all parameters of a model in ONE contiguous float32 buffer, as llm.c does:
 * named tensor views at increasing offsets. Gradients and every piece of optimizer state are
 * buffers of the same {@link #size()}, so an optimizer step is one pass over one buffer and the
 * per-tensor gradient norms are a segmented reduction over {@link #offsets()}.
 */
public final class ParameterLayout {
    private final List<TensorView> views;
    private final Map<String, TensorView> byName;
    private final long size;

    private ParameterLayout(List<TensorView> views) {
        this.views = Collections.unmodifiableList(views);
        Map<String, TensorView> m = new LinkedHashMap<>();
        long end = 0;
        for (TensorView v : views) {
            if (m.put(v.name(), v) != null) throw new IllegalArgumentException("duplicate tensor name '" + v.name() + "'");
            end = v.offset() + v.size();
        }
        this.byName = Collections.unmodifiableMap(m);
        this.size = end;
    }

    /** A layout of one unnamed tensor of {@code n} elements, for callers that have no structure to report. */
    public static ParameterLayout single(long n) {
        if (n <= 0 || n > Integer.MAX_VALUE) throw new IllegalArgumentException("parameter count " + n + " must be in 1.." + Integer.MAX_VALUE);
        return builder().add("params", (int) n).build();
    }

    public static Builder builder() { return new Builder(); }

    public List<TensorView> views() { return views; }

    public TensorView view(String name) {
        TensorView v = byName.get(name);
        if (v == null) throw new IllegalArgumentException("no tensor named '" + name + "'; have " + byName.keySet());
        return v;
    }

    /** Total number of float parameters. */
    public long size() { return size; }

    /** Segment boundaries for segmented reductions: {@code views().size() + 1} entries, first 0, last {@link #size()}. */
    public long[] offsets() {
        long[] o = new long[views.size() + 1];
        for (int i = 0; i < views.size(); i++) o[i] = views.get(i).offset();
        o[views.size()] = size;
        return o;
    }

    /** Builds a layout by appending tensors one after another. */
    public static final class Builder {
        private final List<TensorView> views = new ArrayList<>();
        private long next;

        public Builder add(String name, int... shape) {
            TensorView v = new TensorView(name, shape, next);
            views.add(v);
            next += v.size();
            return this;
        }

        /** The layout; it may be empty (a network of parameter-free layers, in tests). */
        public ParameterLayout build() {
            return new ParameterLayout(new ArrayList<>(views));
        }
    }
}
