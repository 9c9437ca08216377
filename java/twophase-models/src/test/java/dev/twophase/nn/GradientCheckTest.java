package dev.twophase.nn;

import dev.twophase.backend.Activation;
import dev.twophase.backend.Buffer;
import dev.twophase.backend.cpu.CpuBackend;
import dev.twophase.data.Dataset;
import dev.twophase.tensor.TensorView;
import dev.twophase.train.DeviceData;
import dev.twophase.train.ModelObjective;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Every layer and loss against a plain double-precision reference written here: the float
 * forward pass must match the reference loss, and the float backward pass must match central
 * finite differences of the reference, computed in double.
 */
class GradientCheckTest {
    static CpuBackend cpu;

    @BeforeAll static void open() { cpu = new CpuBackend(2); }

    @AfterAll static void close() { cpu.close(); }

    @ParameterizedTest
    @CsvSource({"relu,identity,mse", "tanh,identity,mse", "sigmoid,sigmoid,mse", "gelu,tanh,mse",
            "tanh,identity,cross-entropy", "relu,identity,cross-entropy", "identity,identity,mse"})
    void backwardMatchesFiniteDifferencesOfADoubleReference(String hidden, String output, String lossName) {
        Activation h = Activation.parse(hidden), o = Activation.parse(output);
        Loss loss = Loss.parse(lossName);
        Network net = Network.mlp(5, new int[]{6, 4}, 3, h, o);
        Random r = new Random(hidden.hashCode() * 31 + lossName.hashCode());
        int samples = 11;
        float[] x = new float[samples * 5];
        int[] labels = new int[samples];
        for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
        for (int i = 0; i < samples; i++) labels[i] = r.nextInt(3);
        Dataset data = new Dataset("check", 5, 3, x, labels);
        float[] p0 = net.initialParameters(r.nextLong());
        double[] pd = new double[p0.length];
        for (int i = 0; i < p0.length; i++) pd[i] = p0[i];

        float[] grad = new float[p0.length];
        double floatLoss;
        // The runner holds 4 rows: 11 samples go through in chunks of 4, 4 and 3, exercising accumulation.
        try (DeviceData dd = new DeviceData(cpu, data); NetworkRunner runner = new NetworkRunner(net, cpu, 4);
             Buffer params = cpu.allocate(p0.length); Buffer g = cpu.allocate(p0.length)) {
            cpu.upload(p0, 0, params);
            ModelObjective objective = new ModelObjective(runner, dd, loss);
            floatLoss = objective.valueAndGradient(params, g);
            assertEquals(floatLoss, objective.value(params), 0.0, "value and valueAndGradient agree exactly");
            cpu.download(g, grad, 0);
        }
        double refLoss = referenceLoss(net, pd, data, loss);
        assertEquals(refLoss, floatLoss, 1e-5 * Math.abs(refLoss) + 1e-7, "forward loss vs double reference");
        double maxAbs = 0;
        for (float v : grad) maxAbs = Math.max(maxAbs, Math.abs(v));
        for (int i = 0; i < pd.length; i++) {
            double keep = pd[i], step = 1e-6;
            pd[i] = keep + step;
            double up = referenceLoss(net, pd, data, loss);
            pd[i] = keep - step;
            double down = referenceLoss(net, pd, data, loss);
            pd[i] = keep;
            double fd = (up - down) / (2 * step);
            assertEquals(fd, grad[i], 2e-3 * Math.abs(fd) + 1e-4 * maxAbs + 1e-7, "parameter " + i + " (" + tensorOf(net, i) + ")");
        }
    }

    private static String tensorOf(Network net, int i) {
        for (TensorView v : net.layout().views()) if (i >= v.offset() && i < v.offset() + v.size()) return v.name();
        return "?";
    }

    /** The network and loss in plain double arithmetic. */
    static double referenceLoss(Network net, double[] p, Dataset data, Loss loss) {
        int n = data.size();
        double total = 0;
        for (int s = 0; s < n; s++) {
            double[] a = new double[data.features()];
            for (int j = 0; j < a.length; j++) a[j] = data.inputs()[s * data.features() + j];
            int layer = 0;
            for (Layer l : net.layers()) {
                if (l instanceof Dense d) {
                    TensorView w = net.layout().view("layer" + layer + ".weight"), b = net.layout().view("layer" + layer + ".bias");
                    double[] y = new double[d.outputSize()];
                    for (int o = 0; o < y.length; o++) {
                        double sum = p[(int) b.offset() + o];
                        for (int i = 0; i < a.length; i++) sum += p[(int) w.offset() + o * a.length + i] * a[i];
                        y[o] = sum;
                    }
                    a = y;
                } else if (l instanceof ActivationLayer act) {
                    for (int j = 0; j < a.length; j++) a[j] = activation(act.function(), a[j]);
                }
                layer++;
            }
            int label = data.labels()[s];
            if (loss == Loss.MSE) {
                for (int j = 0; j < a.length; j++) {
                    double t = j == label ? 1 : 0;
                    total += (a[j] - t) * (a[j] - t);
                }
            } else {
                double max = Double.NEGATIVE_INFINITY, z = 0;
                for (double v : a) max = Math.max(max, v);
                for (double v : a) z += Math.exp(v - max);
                total -= a[label] - max - Math.log(z);
            }
        }
        return total / loss.normalizer(n, data.classes());
    }

    static double activation(Activation f, double x) {
        return switch (f) {
            case IDENTITY -> x;
            case RELU -> Math.max(0, x);
            case TANH -> Math.tanh(x);
            case SIGMOID -> 1 / (1 + Math.exp(-x));
            case GELU -> 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
        };
    }
}
