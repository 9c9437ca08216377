package dev.twophase.optim;

import dev.twophase.tensor.TensorView;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.function.Predicate;

/**
 * Adam / AdamW hyperparameters with PyTorch's meaning and defaults: lr 1e-3, betas (0.9, 0.999),
 * eps 1e-8, no AMSGrad; Adam adds {@code weightDecay * p} to the gradient (L2), AdamW
 * ({@code decoupled}) multiplies the parameters by {@code 1 - lr * weightDecay} (PyTorch's AdamW
 * default 1e-2).
 *
 * <p>Weight decay can differ by tensor, as with PyTorch's parameter groups: {@link #weightDecayRules}
 * override {@link #weightDecay} for the tensors they select, the last matching rule winning. A
 * common transformer recipe decays only matrices:
 * <pre>{@code
 * AdamConfig.adamW().withWeightDecay(0.1).withWeightDecay(v -> v.shape().length < 2, 0)  // no decay for biases, norm gains
 * }</pre>
 * Adam still updates the whole buffer in one fused pass (see {@link dev.twophase.backend.AdamUpdate}).
 */
public record AdamConfig(double lr, double beta1, double beta2, double eps, double weightDecay, boolean decoupled, boolean amsgrad,
                         List<TensorDecay> weightDecayRules) {

    /**
     * Weight decay {@code weightDecay} for the tensors {@code selects} accepts; {@code tensorName}
     * is set when the rule names one tensor, which must then exist in the layout.
     */
    public record TensorDecay(String tensorName, Predicate<TensorView> selects, double weightDecay) {
        public TensorDecay {
            Objects.requireNonNull(selects, "TensorDecay: selects");
            Checks.nonNegative("weightDecay", weightDecay);
        }

        @Override public String toString() {
            return (tensorName != null ? "'" + tensorName + "'" : "tensors selected by a predicate") + " -> " + weightDecay;
        }
    }

    public AdamConfig {
        Checks.positive("lr", lr);
        Checks.unitInterval("beta1", beta1);
        Checks.unitInterval("beta2", beta2);
        Checks.positive("eps", eps);
        Checks.nonNegative("weightDecay", weightDecay);
        weightDecayRules = List.copyOf(weightDecayRules);
    }

    /** Without AMSGrad and per-tensor rules. */
    public AdamConfig(double lr, double beta1, double beta2, double eps, double weightDecay, boolean decoupled) {
        this(lr, beta1, beta2, eps, weightDecay, decoupled, false, List.of());
    }

    /** torch.optim.Adam defaults. */
    public static AdamConfig adam() { return new AdamConfig(1e-3, 0.9, 0.999, 1e-8, 0, false); }

    /** torch.optim.AdamW defaults. */
    public static AdamConfig adamW() { return new AdamConfig(1e-3, 0.9, 0.999, 1e-8, 1e-2, true); }

    public AdamConfig withLr(double v) { return new AdamConfig(v, beta1, beta2, eps, weightDecay, decoupled, amsgrad, weightDecayRules); }

    public AdamConfig withBetas(double b1, double b2) { return new AdamConfig(lr, b1, b2, eps, weightDecay, decoupled, amsgrad, weightDecayRules); }

    public AdamConfig withEps(double v) { return new AdamConfig(lr, beta1, beta2, v, weightDecay, decoupled, amsgrad, weightDecayRules); }

    /** The weight decay of every tensor no rule selects. */
    public AdamConfig withWeightDecay(double v) { return new AdamConfig(lr, beta1, beta2, eps, v, decoupled, amsgrad, weightDecayRules); }

    /** AMSGrad (Reddi et al. 2018, PyTorch's {@code amsgrad=True}): the step divides by the running maximum of the second moment. */
    public AdamConfig withAmsgrad(boolean v) { return new AdamConfig(lr, beta1, beta2, eps, weightDecay, decoupled, v, weightDecayRules); }

    /** Weight decay {@code v} for the tensor named {@code tensorName} (an {@link Adam} on a layout without it refuses the config). */
    public AdamConfig withWeightDecay(String tensorName, double v) {
        Objects.requireNonNull(tensorName, "tensorName");
        return withRule(new TensorDecay(tensorName, t -> t.name().equals(tensorName), v));
    }

    /** Weight decay {@code v} for every tensor of the layout that {@code tensors} accepts. */
    public AdamConfig withWeightDecay(Predicate<TensorView> tensors, double v) {
        return withRule(new TensorDecay(null, tensors, v));
    }

    private AdamConfig withRule(TensorDecay rule) {
        List<TensorDecay> rules = new ArrayList<>(weightDecayRules);
        rules.add(rule);
        return new AdamConfig(lr, beta1, beta2, eps, weightDecay, decoupled, amsgrad, rules);
    }

    /** The weight decay of tensor {@code v}: the last rule that selects it, else {@link #weightDecay}. */
    public double weightDecayOf(TensorView v) {
        double wd = weightDecay;
        for (TensorDecay r : weightDecayRules) if (r.selects().test(v)) wd = r.weightDecay();
        return wd;
    }
}
