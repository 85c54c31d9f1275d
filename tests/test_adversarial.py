"""Adversarial training: two optimisers in one LightningModule, both in every checkpoint, resumed exactly."""

import re
from pathlib import Path

import mlflow
import pytest
import torch

from medae.applications.anomaly import candidate_scores, extra_scores, reconstruction_maps
from medae.commands.train import train
from medae.errors import ConfigError
from medae.models.adversarial_module import gan_loss
from tests.conftest import FAST_RUN, compose_config, medae, module_for, runs_in_store, tracking_uri

VAEGAN = ["model=vaegan", "model.latent_size=16", "model.discriminator_channels=8", "trainer.max_epochs=3"]
# every adversarial variant, small
ADVERSARIAL = {
    "vaegan": VAEGAN,
    "aae": ["model=aae", "model.latent_size=8", "model.discriminator_channels=16", "trainer.max_epochs=3"],
    "autoencoder_kl": [
        "model=autoencoder_kl",
        "model.channels=[16,16]",
        "model.norm_num_groups=8",
        "model.discriminator_channels=8",
        "trainer.max_epochs=3",
    ],
}


def run(root: Path, *overrides: str, variant: str = "vaegan"):
    """Train a small ``variant`` with FAST_RUN and ``overrides`` in a folder of its own (own last.ckpt)."""
    root.mkdir()
    return train(compose_config("train", [*FAST_RUN, *ADVERSARIAL[variant], *overrides], root))


def checkpoint(result) -> dict:
    last = Path(result.best_checkpoint).with_name("last.ckpt")
    return torch.load(last, map_location="cpu", weights_only=False)


def test_the_gan_loss_is_the_cross_entropy_of_the_logits_against_real_or_fake():
    logits = torch.tensor([[2.0, -1.0]])
    assert gan_loss(logits, real=True).item() == pytest.approx(
        float(-(torch.sigmoid(logits).log()).mean()), abs=1e-6
    )
    assert gan_loss(logits, real=False).item() == pytest.approx(
        float(-((1 - torch.sigmoid(logits)).log()).mean()), abs=1e-6
    )


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ({"adversarial_weight": -0.1}, "model.adversarial_weight: expected float >= 0, got -0.1 (float)"),
        ({"discriminator_layers": 0}, "model.discriminator_layers: expected int > 0, got 0 (int)"),
    ],
)
def test_refused_adversarial_options(option, message):
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}"):
        module_for("vaegan", 2, 32, **option)


def test_the_discriminator_is_a_patch_discriminator_beside_the_exported_network():
    module = module_for("vaegan", 3, 24, discriminator_layers=2)
    assert module.automatic_optimization is False
    logits = module.discriminate(torch.rand(2, 1, 24, 24, 24))
    assert logits.shape[:2] == (2, 1) and logits.ndim == 5  # a logit per 3D patch
    assert not any(name.startswith("discriminator") for name in module.network.state_dict())
    assert module.ddp_strategy == "ddp_find_unused_parameters_true"


@pytest.mark.slow
def test_both_networks_train_with_their_own_optimiser_and_scheduler(tmp_path):
    adversarial = ["model.adversarial_start_epoch=1", "optim.lr=0.002", "scheduler=cosine"]
    result = run(tmp_path / "adversarial", *adversarial, "scheduler.scheduler.T_max=3")
    client = mlflow.MlflowClient(tracking_uri(tmp_path / "adversarial"))
    metrics = client.get_run(result.run_id).data.metrics
    # the discriminator joins at epoch 1: its loss (the mean of two cross-entropies) is logged from then on
    history = client.get_metric_history(result.run_id, "train/loss_discriminator")
    assert [m.step for m in history] == [1, 2] and all(0 < m.value < 2 for m in history)
    assert metrics["train/loss_adversarial"] > 0
    stored = checkpoint(result)
    assert len(stored["optimizer_states"]) == 2 and len(stored["lr_schedulers"]) == 2
    # each cosine schedule stepped once an epoch, from 2e-3 towards 0 over T_max=3 epochs
    for name in ("lr-Adam", "lr-Adam-1"):
        rates = [m.value for m in client.get_metric_history(result.run_id, name)]
        assert rates[0] == pytest.approx(2e-3) and rates[-1] == pytest.approx(2e-3 * 0.25, rel=1e-3)
    # with no adversarial weight the discriminator's optimiser never steps, and the discriminator stays
    # as the same seed built it; the adversarial run trained every one of its tensors
    still = checkpoint(run(tmp_path / "still", "model.adversarial_weight=0", "logger=none"))
    assert still["optimizer_states"][1]["state"] == {} and still["optimizer_states"][0]["state"] != {}
    initial = {k: v for k, v in still["state_dict"].items() if k.startswith("discriminator.")}
    assert initial and all(
        not torch.equal(stored["state_dict"][key], value)
        for key, value in initial.items()
        if value.is_floating_point()
    )


@pytest.mark.slow
@pytest.mark.parametrize("variant", sorted(ADVERSARIAL))
def test_an_adversarial_run_resumed_from_its_checkpoint_ends_bitwise_as_the_uninterrupted_one(
    variant, tmp_path
):
    common = ["model.adversarial_start_epoch=0", "logger=none", "trust_checkpoint=true"]
    whole = run(tmp_path / "whole", *common, variant=variant)
    first = run(tmp_path / "first", *common, "trainer.max_epochs=2", variant=variant)
    last = Path(first.best_checkpoint).with_name("last.ckpt")
    resumed = run(tmp_path / "resumed", *common, f"ckpt_path={last}", variant=variant)
    expected, found = checkpoint(whole), checkpoint(resumed)
    assert found["epoch"] == expected["epoch"] == 2
    assert all(optimizer["state"] for optimizer in expected["optimizer_states"])  # both stepped
    assert found["state_dict"].keys() == expected["state_dict"].keys()
    assert all(torch.equal(found["state_dict"][k], v) for k, v in expected["state_dict"].items())
    for mine, theirs in zip(found["optimizer_states"], expected["optimizer_states"], strict=True):
        for index, state in theirs["state"].items():
            assert all(
                torch.equal(mine["state"][index][k], v) for k, v in state.items() if torch.is_tensor(v)
            )


@pytest.mark.slow
def test_adversarial_training_runs_under_ddp_on_two_cpu_processes(tmp_path):
    ddp = ["trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2", "trainer.max_epochs=2"]
    adversarial = ["model=vaegan", "model.adversarial_start_epoch=0", "debug=limit", "data.image_size=32"]
    result = medae(["train", *ddp, *adversarial], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    (run,) = runs_in_store(tmp_path)
    assert run.info.status == "FINISHED"
    assert 0 < run.data.metrics["train/loss_discriminator"] < 2


def test_the_adversarial_autoencoder_judges_codes_against_draws_of_the_prior():
    torch.manual_seed(0)
    module = module_for("aae", 2, 32, latent_size=6)
    images = torch.rand(500, 1, 32, 32)
    output = module(images[:4])
    real, fake = module.real_and_fake(None, output)
    assert fake is output.latent and real.shape == fake.shape == (4, 6)
    prior = module.real_and_fake(None, module(images))[0]
    assert abs(prior.mean().item()) < 0.05 and prior.std().item() == pytest.approx(1.0, abs=0.05)
    assert module.discriminate(fake).shape == (4, 1)  # one logit per code, from an MLP
    linear = [layer for layer in module.discriminator if isinstance(layer, torch.nn.Linear)]
    assert [layer.in_features for layer in linear] == [6, 256, 256]
    assert module.network.sample(3).shape == (3, 1, 32, 32)


def test_anomaly_scores_on_offer_follow_what_the_variant_learned():
    def module(name: str):
        return module_for(name, 2, 32)

    assert candidate_scores(module("conv"), "auto") == ("l1", "l2", "ssim")
    assert candidate_scores(module("vae"), "auto") == ("l1", "l2", "ssim", "elbo")
    assert candidate_scores(module("vaegan"), "auto") == ("l1", "l2", "ssim", "elbo", "fanogan")
    assert candidate_scores(module("aae"), "auto") == ("l1", "l2", "ssim")  # its discriminator sees codes
    with pytest.raises(
        ConfigError, match=r"^application.score: fanogan needs a variant trained against an image"
    ):
        candidate_scores(module("conv"), "fanogan")


def test_the_f_anogan_feature_residual_is_zero_for_a_perfect_reconstruction_and_grows_with_the_error():
    torch.manual_seed(0)
    module = module_for("vaegan", 2, 32)
    images = torch.rand(4, 1, 32, 32)
    assert torch.equal(module.feature_residual(images, images), torch.zeros(4))
    small = module.feature_residual(images, images + 0.01 * torch.randn_like(images))
    large = module.feature_residual(images, images + 0.2 * torch.randn_like(images))
    assert (small > 0).all() and (large > 10 * small).all()
    score = extra_scores(module, "fanogan")(images)
    _, reconstructions = reconstruction_maps(module.network, images, "l2", 1.0)
    assert torch.allclose(score, module.feature_residual(images, reconstructions))


@pytest.mark.slow
def test_the_anomaly_application_chooses_among_the_f_anogan_and_elbo_scores_on_validation_data(tmp_path):
    result = run(
        tmp_path / "anomaly", "application=anomaly", "trainer.max_epochs=2", "model.adversarial_start_epoch=0"
    )
    record = mlflow.MlflowClient(tracking_uri(tmp_path / "anomaly")).get_run(result.run_id)
    scores = ("l1", "l2", "ssim", "elbo", "fanogan")
    aurocs = {score: record.data.metrics[f"anomaly/val_auroc_{score}"] for score in scores}
    assert all(0 <= value <= 1 for value in aurocs.values())
    assert record.data.params["anomaly.anomaly_score"] == max(aurocs, key=aurocs.get)
