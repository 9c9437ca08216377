package dev.twophase.nn;

import dev.twophase.backend.Activation;
import dev.twophase.tensor.ParameterLayout;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Collectors;

/**
 * A feed-forward stack of layers and the layout of its parameters in one flat buffer. Holds no
 * memory; run it with a {@link NetworkRunner}.
 */
public final class Network {
    private final String name;
    private final List<Layer> layers;
    private final ParameterLayout layout;

    public Network(String name, List<Layer> layers) {
        if (layers.isEmpty()) throw new IllegalArgumentException("a network needs at least one layer");
        for (int i = 1; i < layers.size(); i++) {
            if (layers.get(i).inputSize() != layers.get(i - 1).outputSize()) {
                throw new IllegalArgumentException("layer " + i + " (" + layers.get(i).describe() + ") takes " + layers.get(i).inputSize()
                        + " features but layer " + (i - 1) + " gives " + layers.get(i - 1).outputSize());
            }
        }
        this.name = name;
        this.layers = Collections.unmodifiableList(new ArrayList<>(layers));
        ParameterLayout.Builder b = ParameterLayout.builder();
        for (int i = 0; i < layers.size(); i++) layers.get(i).declareParameters(b, prefix(i));
        this.layout = b.build();
        for (int i = 0; i < layers.size(); i++) layers.get(i).bind(layout, prefix(i));
    }

    /**
     * A multi-layer perceptron: dense layers of the given widths with {@code hidden} between them
     * and {@code output} after the last.
     */
    public static Network mlp(int inputs, int[] hiddenWidths, int outputs, Activation hidden, Activation output) {
        List<Layer> layers = new ArrayList<>();
        int width = inputs;
        for (int h : hiddenWidths) {
            layers.add(new Dense(width, h));
            layers.add(new ActivationLayer(hidden, h));
            width = h;
        }
        layers.add(new Dense(width, outputs));
        if (output != Activation.IDENTITY) layers.add(new ActivationLayer(output, outputs));
        return new Network("mlp", layers);
    }

    private static String prefix(int i) { return "layer" + i + "."; }

    public String name() { return name; }

    public List<Layer> layers() { return layers; }

    public ParameterLayout layout() { return layout; }

    public int inputSize() { return layers.get(0).inputSize(); }

    public int outputSize() { return layers.get(layers.size() - 1).outputSize(); }

    /** Initial parameters, reproducible from {@code seed}. */
    public float[] initialParameters(long seed) {
        float[] p = new float[(int) layout.size()];
        SplittableRandom rng = new SplittableRandom(seed);
        for (Layer l : layers) l.initialize(p, rng);
        return p;
    }

    public String describe() {
        return name + " [" + layers.stream().map(Layer::describe).collect(Collectors.joining(", ")) + "], " + layout.size() + " parameters";
    }
}
