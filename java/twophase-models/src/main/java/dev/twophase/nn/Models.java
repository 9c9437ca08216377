package dev.twophase.nn;

import dev.twophase.backend.Activation;

import java.util.ArrayList;
import java.util.List;

/**
 * The paper's models for images of {@code channels x height x width} (channel-major input):
 * <ul>
 *   <li>{@code vgg5-max-relu}: conv3x3(32) ReLU maxpool2, conv3x3(64) ReLU maxpool2,
 *       conv3x3(64) ReLU maxpool2 (padding 1), dense(128) ReLU, dense(classes): five weight layers
 *       (computed as conv, pool, ReLU: the same values and gradients);</li>
 *   <li>{@code vit-mlp}: patches of (height/4)^2 pixels (16 tokens: 7x7 on MNIST, 8x8 on CIFAR)
 *       embedded to 64, learned position embedding, 3 pre-norm encoder blocks with 4 heads and a
 *       GELU MLP of 256, final layer norm, mean over tokens, dense(classes);</li>
 *   <li>{@code vit-nomlp}: the same without the MLP;</li>
 *   <li>{@code vit-nomlp-wkewq}: additionally one shared key/query matrix;</li>
 *   <li>{@code vit-nomlp-wkewq-wvwo1}: additionally no W_v and W_o, one head.</li>
 * </ul>
 * The output is linear (the paper's MSE is applied to it directly). These choices are ours (the
 * paper leaves them open); they give parameter counts within a few percent of those implied by
 * the paper's overdetermination ratios Q.
 */
public final class Models {
    public static final List<String> NAMES = List.of("mlp", "vgg5-max-relu", "vit-mlp", "vit-nomlp", "vit-nomlp-wkewq", "vit-nomlp-wkewq-wvwo1");
    static final int VIT_DIM = 64, VIT_HEADS = 4, VIT_BLOCKS = 3, VIT_MLP = 256;

    private Models() { }

    /** Builds a named image model; use {@link Network#mlp} for MLPs with custom widths. */
    public static Network create(String name, int channels, int height, int width, int classes) {
        return switch (name) {
            case "vgg5-max-relu" -> vgg5(channels, height, width, classes);
            case "vit-mlp" -> vit(name, channels, height, width, classes, VIT_HEADS, VIT_MLP, false, true);
            case "vit-nomlp" -> vit(name, channels, height, width, classes, VIT_HEADS, 0, false, true);
            case "vit-nomlp-wkewq" -> vit(name, channels, height, width, classes, VIT_HEADS, 0, true, true);
            case "vit-nomlp-wkewq-wvwo1" -> vit(name, channels, height, width, classes, 1, 0, true, false);
            default -> throw new IllegalArgumentException("unknown model '" + name + "'; expected one of " + NAMES);
        };
    }

    static Network vgg5(int c, int h, int w, int classes) {
        List<Layer> layers = new ArrayList<>();
        layers.add(new ChannelsLast(c, h, w));
        int[] widths = {32, 64, 64};
        for (int out : widths) {
            Conv2d conv = new Conv2d(h, w, c, out, 3, 1, 1);
            layers.add(conv);
            // ReLU after the pooling: max commutes with the monotone ReLU, so values and
            // gradients are those of ReLU-then-pool bit for bit, on a quarter of the elements.
            MaxPool2d pool = new MaxPool2d(conv.outHeight(), conv.outWidth(), out, 2);
            layers.add(pool);
            layers.add(new ActivationLayer(Activation.RELU, pool.outputSize()));
            h = pool.outHeight();
            w = pool.outWidth();
            c = out;
            if (h < 1 || w < 1) throw new IllegalArgumentException("vgg5-max-relu needs images of at least 8x8");
        }
        layers.add(new Dense(h * w * c, 128));
        layers.add(new ActivationLayer(Activation.RELU, 128));
        layers.add(new Dense(128, classes));
        return new Network("vgg5-max-relu", layers);
    }

    static Network vit(String name, int c, int h, int w, int classes, int heads, int mlp, boolean sharedKq, boolean valueOutput) {
        if (h != w || h % 4 != 0) throw new IllegalArgumentException(name + " needs square images with a side divisible by 4; got " + h + "x" + w);
        int patch = h / 4, tokens = 16;
        List<Layer> layers = new ArrayList<>();
        layers.add(new ChannelsLast(c, h, w));
        layers.add(new Conv2d(h, w, c, VIT_DIM, patch, patch, 0));
        layers.add(new PositionEmbedding(tokens, VIT_DIM));
        for (int i = 0; i < VIT_BLOCKS; i++) layers.add(new TransformerBlock(tokens, VIT_DIM, heads, mlp, sharedKq, valueOutput));
        layers.add(new LayerNorm(tokens, VIT_DIM));
        layers.add(new TokenMean(tokens, VIT_DIM));
        layers.add(new Dense(VIT_DIM, classes));
        return new Network(name, layers);
    }

    /** The overdetermination ratio Q = K * M / P of the paper (K samples, M outputs, P parameters). */
    public static double overdetermination(long samples, int outputs, long parameters) {
        return (double) samples * outputs / parameters;
    }
}
