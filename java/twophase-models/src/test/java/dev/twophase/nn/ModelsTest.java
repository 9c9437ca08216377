package dev.twophase.nn;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import dev.twophase.backend.Activation;
import dev.twophase.backend.Buffer;
import dev.twophase.backend.cpu.CpuBackend;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

class ModelsTest {
    /**
     * vgg5-max-relu pools before its ReLUs; the textbook order (ReLU, then pool) must give the
     * same outputs and gradients bit for bit. Inputs are centred on zero so that many windows are
     * all negative, and 11x9 images leave rows and columns outside the pooling windows.
     */
    @Test
    void vgg5PoolingBeforeReluMatchesReluBeforePoolingBitForBit() {
        int c = 2, h = 11, w = 9, classes = 3, batch = 5;
        Network fast = Models.create("vgg5-max-relu", c, h, w, classes);
        Network textbook = textbookVgg5(c, h, w, classes);
        float[] params = fast.initialParameters(7);
        Random r = new Random(3);
        float[] x = new float[batch * c * h * w], dOut = new float[batch * classes];
        for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
        for (int i = 0; i < dOut.length; i++) dOut[i] = (float) r.nextGaussian();
        try (CpuBackend cpu = new CpuBackend(2)) {
            float[][] a = run(cpu, fast, params, x, dOut, batch), b = run(cpu, textbook, params, x, dOut, batch);
            assertArrayEquals(b[0], a[0], "outputs");
            assertArrayEquals(b[1], a[1], "parameter gradients");
        }
    }

    private static Network textbookVgg5(int c, int h, int w, int classes) {
        List<Layer> layers = new ArrayList<>();
        layers.add(new ChannelsLast(c, h, w));
        for (int out : new int[]{32, 64, 64}) {
            Conv2d conv = new Conv2d(h, w, c, out, 3, 1, 1);
            layers.add(conv);
            layers.add(new ActivationLayer(Activation.RELU, conv.outputSize()));
            MaxPool2d pool = new MaxPool2d(conv.outHeight(), conv.outWidth(), out, 2);
            layers.add(pool);
            h = pool.outHeight();
            w = pool.outWidth();
            c = out;
        }
        layers.add(new Dense(h * w * c, 128));
        layers.add(new ActivationLayer(Activation.RELU, 128));
        layers.add(new Dense(128, classes));
        return new Network("textbook", layers);
    }

    /** Output and parameter gradient of one forward/backward pass. */
    private static float[][] run(CpuBackend cpu, Network net, float[] params, float[] x, float[] dOut, int batch) {
        try (NetworkRunner runner = new NetworkRunner(net, cpu, batch);
             Buffer p = cpu.allocate(params.length); Buffer g = cpu.allocate(params.length); Buffer in = cpu.allocate(x.length)) {
            cpu.upload(params, 0, p);
            cpu.upload(x, 0, in);
            float[] out = new float[batch * net.outputSize()], grads = new float[params.length];
            cpu.download(runner.forward(p, in, batch), out, 0);
            cpu.upload(dOut, 0, runner.outputGradient(batch));
            runner.backward(p, g, in, batch);
            cpu.download(g, grads, 0);
            return new float[][]{out, grads};
        }
    }
}
