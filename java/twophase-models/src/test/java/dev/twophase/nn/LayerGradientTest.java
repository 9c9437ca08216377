package dev.twophase.nn;

import dev.twophase.backend.Buffer;
import dev.twophase.backend.cpu.CpuBackend;
import dev.twophase.tensor.TensorView;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Each image and attention layer against a plain double-precision reference written in
 * {@link ReferenceLayers} (direct convolution, direct attention, ...): the fast float forward
 * pass (im2col + GEMM, batched attention) must match the reference, and the float backward pass
 * must match central finite differences of the reference in double, for parameters and inputs.
 */
class LayerGradientTest {
    static CpuBackend cpu;

    @BeforeAll static void open() { cpu = new CpuBackend(2); }

    @AfterAll static void close() { cpu.close(); }

    /** A layer's forward pass in double: (parameters of the layer's flat layout, input batch) -> output batch. */
    interface Reference { double[] forward(Network net, double[] params, double[] x, int batch); }

    static void check(Layer layer, int batch, long seed, Reference ref) {
        Network net = new Network("check", List.of(layer));
        Random r = new Random(seed);
        float[] p = net.initialParameters(seed);
        for (int i = 0; i < p.length; i++) p[i] += (float) (0.1 * r.nextGaussian()); // move off the initial symmetric values
        float[] x = new float[batch * layer.inputSize()];
        for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
        float[] weights = new float[batch * layer.outputSize()];
        for (int i = 0; i < weights.length; i++) weights[i] = (float) r.nextGaussian();

        float[] out = new float[weights.length], pGrad = new float[p.length], xGrad = new float[x.length];
        try (Buffer P = cpu.allocate(p.length); Buffer G = cpu.allocate(p.length); Buffer X = cpu.allocate(x.length);
             Buffer Y = cpu.allocate(weights.length); Buffer DY = cpu.allocate(weights.length); Buffer DX = cpu.allocate(x.length);
             Buffer WS = cpu.allocate(Math.max(1, layer.workspaceSize(batch)))) {
            cpu.upload(p, 0, P);
            cpu.upload(x, 0, X);
            cpu.upload(weights, 0, DY);
            Buffer ws = layer.workspaceSize(batch) > 0 ? WS : null;
            layer.forward(cpu, P, X, Y, ws, batch);
            layer.backward(cpu, P, G, X, Y, DY, DX, ws, batch);
            cpu.download(Y, out, 0);
            cpu.download(G, pGrad, 0);
            cpu.download(DX, xGrad, 0);
        }
        double[] pd = toDouble(p), xd = toDouble(x);
        double[] expected = ref.forward(net, pd, xd, batch);
        for (int i = 0; i < out.length; i++) {
            assertEquals(expected[i], out[i], 1e-4 * (1 + Math.abs(expected[i])), layer.describe() + ": output " + i);
        }
        checkGradient(layer.describe(), "parameter", pd, pGrad, () -> weighted(ref.forward(net, pd, xd, batch), weights), net);
        checkGradient(layer.describe(), "input", xd, xGrad, () -> weighted(ref.forward(net, pd, xd, batch), weights), null);
    }

    /** Central differences in double of the weighted output sum, against the float backward pass. */
    static void checkGradient(String layer, String what, double[] v, float[] analytic, java.util.function.DoubleSupplier f, Network net) {
        double scale = 0;
        for (float a : analytic) scale = Math.max(scale, Math.abs(a));
        for (int i = 0; i < v.length; i++) {
            double keep = v[i], h = 1e-6;
            v[i] = keep + h;
            double up = f.getAsDouble();
            v[i] = keep - h;
            double down = f.getAsDouble();
            v[i] = keep;
            double fd = (up - down) / (2 * h);
            String where = net == null ? "" : " (" + tensorOf(net, i) + ")";
            assertEquals(fd, analytic[i], 1e-3 * Math.abs(fd) + 2e-4 * scale + 1e-6, layer + ": d/d " + what + " " + i + where);
        }
    }

    static double weighted(double[] y, float[] w) {
        double s = 0;
        for (int i = 0; i < y.length; i++) s += y[i] * w[i];
        return s;
    }

    static double[] toDouble(float[] a) {
        double[] d = new double[a.length];
        for (int i = 0; i < a.length; i++) d[i] = a[i];
        return d;
    }

    static String tensorOf(Network net, int i) {
        for (TensorView v : net.layout().views()) if (i >= v.offset() && i < v.offset() + v.size()) return v.name();
        return "?";
    }

    @ParameterizedTest
    @CsvSource({"5,6,3,4,3,1,1", "7,5,2,3,3,2,0", "8,8,3,4,4,4,0", "6,6,1,2,1,1,0", "9,8,1,2,3,1,1", "7,6,1,3,3,2,1"})
    void conv2d(int h, int w, int cin, int cout, int k, int stride, int pad) {
        Conv2d conv = new Conv2d(h, w, cin, cout, k, stride, pad);
        check(conv, 2, h * 31L + k, (net, p, x, b) -> ReferenceLayers.conv(p, net.layout(), "layer0.", x, b, h, w, cin, cout, k, stride, pad));
    }

    @ParameterizedTest
    @CsvSource({"6,4,3,2", "7,5,3,2", "5,8,2,3"})
    void maxPool(int h, int w, int c, int size) {
        check(new MaxPool2d(h, w, c, size), 3, h * 7L + w, (net, p, x, b) -> ReferenceLayers.maxPool(x, b, h, w, c, size));
    }

    @Test
    void channelsLast() {
        check(new ChannelsLast(3, 2, 5), 2, 6, (net, p, x, b) -> ReferenceLayers.channelsLast(x, b, 3, 10));
    }

    @Test
    void layerNorm() {
        check(new LayerNorm(3, 7), 2, 7, (net, p, x, b) -> ReferenceLayers.layerNorm(p, net.layout(), "layer0.", x, b * 3, 7));
    }

    @Test
    void positionEmbeddingAndTokenMean() {
        check(new PositionEmbedding(4, 3), 2, 8, (net, p, x, b) -> ReferenceLayers.addPosition(p, net.layout(), "layer0.", x, b, 12));
        check(new TokenMean(4, 3), 2, 9, (net, p, x, b) -> ReferenceLayers.tokenMean(x, b, 4, 3));
    }

    @ParameterizedTest
    @CsvSource({"2,8,true,false,true", "2,0,false,false,true", "2,0,false,true,true", "1,0,false,true,false", "1,6,false,true,false"})
    void transformerBlock(int heads, int mlp, boolean unused, boolean sharedKq, boolean valueOutput) {
        int tokens = 3, dim = 4;
        TransformerBlock block = new TransformerBlock(tokens, dim, heads, mlp, sharedKq, valueOutput);
        check(block, 2, heads * 7L + mlp + (sharedKq ? 1 : 0),
                (net, p, x, b) -> ReferenceLayers.block(p, net.layout(), "layer0.", x, b, tokens, dim, heads, mlp, sharedKq, valueOutput));
    }

    @Test
    void modelsBuildAndReportTheirSize() {
        for (String name : Models.NAMES) {
            if (name.equals("mlp")) continue;
            Network mnist = Models.create(name, 1, 28, 28, 10);
            Network cifar = Models.create(name, 3, 32, 32, 10);
            assertTrue(mnist.layout().size() > 10_000 && cifar.layout().size() > 10_000, name);
        }
        // Within 10% of the paper's Q on MNIST (60,000 samples x 10 outputs).
        double[][] paperQ = {{4.9}, {3.9}, {11.0}, {14.1}, {33.5}};
        String[] names = {"vgg5-max-relu", "vit-mlp", "vit-nomlp", "vit-nomlp-wkewq", "vit-nomlp-wkewq-wvwo1"};
        for (int i = 0; i < names.length; i++) {
            double q = Models.overdetermination(60_000, 10, Models.create(names[i], 1, 28, 28, 10).layout().size());
            assertEquals(paperQ[i][0], q, 0.1 * paperQ[i][0], names[i] + " Q = " + q);
        }
    }
}
