package dev.twophase.optim;

/**
 * Adam / AdamW hyperparameters with PyTorch's meaning and defaults: lr 1e-3, betas (0.9, 0.999),
 * eps 1e-8; Adam adds {@code weightDecay * p} to the gradient (L2), AdamW ({@code decoupled})
 * multiplies the parameters by {@code 1 - lr * weightDecay} (PyTorch's AdamW default 1e-2).
 */
public record AdamConfig(double lr, double beta1, double beta2, double eps, double weightDecay, boolean decoupled) {

    public AdamConfig {
        Checks.positive("lr", lr);
        Checks.unitInterval("beta1", beta1);
        Checks.unitInterval("beta2", beta2);
        Checks.positive("eps", eps);
        Checks.nonNegative("weightDecay", weightDecay);
    }

    /** torch.optim.Adam defaults. */
    public static AdamConfig adam() { return new AdamConfig(1e-3, 0.9, 0.999, 1e-8, 0, false); }

    /** torch.optim.AdamW defaults. */
    public static AdamConfig adamW() { return new AdamConfig(1e-3, 0.9, 0.999, 1e-8, 1e-2, true); }

    public AdamConfig withLr(double v) { return new AdamConfig(v, beta1, beta2, eps, weightDecay, decoupled); }

    public AdamConfig withBetas(double b1, double b2) { return new AdamConfig(lr, b1, b2, eps, weightDecay, decoupled); }

    public AdamConfig withEps(double v) { return new AdamConfig(lr, beta1, beta2, v, weightDecay, decoupled); }

    public AdamConfig withWeightDecay(double v) { return new AdamConfig(lr, beta1, beta2, eps, v, decoupled); }
}
