import math

import lightning as L
import pytest
import torch
from lightning import Callback

from medae.commands.train import train
from medae.data.batch import ReconstructionBatch
from medae.data.mni152 import MNI152DataModule
from medae.errors import ConfigError
from medae.models.registry import MODELS, build_module
from tests.conftest import SMALL_OPTIONS, TEST_SIZES, module_for

ADAM = {"_target_": "torch.optim.Adam", "_partial_": True, "lr": 3e-3}


def model_overrides(name: str) -> list[str]:
    return [f"model={name}", *(f"model.{key}={value}" for key, value in SMALL_OPTIONS.get(name, {}).items())]


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_every_variant_trains_through_the_pipeline(make_config, name, spatial_dims):
    cfg = make_config(
        *model_overrides(name),
        "debug=fast_dev_run",
        "logger=none",
        f"data.spatial_dims={spatial_dims}",
        f"data.image_size={TEST_SIZES[spatial_dims]}",
    )
    result = train(cfg)
    for key in ("train/loss", "test/loss", "test/psnr", "test/ssim"):
        assert math.isfinite(result.metrics[key]), key
    assert result.metrics["test/psnr"] > 0


@pytest.mark.slow
@pytest.mark.parametrize("loss", ["mse", "l1", "bce", "ssim"])
def test_every_loss_option_trains(make_config, loss):
    result = train(make_config("debug=fast_dev_run", "logger=none", "loss.mse=0", f"loss.{loss}=1"))
    assert math.isfinite(result.metrics[f"train/loss_{loss}"])
    assert result.metrics["train/loss"] == pytest.approx(result.metrics[f"train/loss_{loss}"], rel=1e-5)


@pytest.mark.slow
def test_weighted_loss_sum_trains(make_config):
    result = train(make_config("debug=fast_dev_run", "logger=none", "loss.mse=1", "loss.ssim=0.5"))
    expected = result.metrics["train/loss_mse"] + 0.5 * result.metrics["train/loss_ssim"]
    assert result.metrics["train/loss"] == pytest.approx(expected, rel=1e-5)


@pytest.fixture(scope="module")
def mni_batch() -> torch.Tensor:
    data = MNI152DataModule(image_size=32)
    data.setup()
    return torch.stack([data.datasets["train"][i]["image"] for i in range(0, 64, 4)])


class LossHistory(Callback):
    """Each epoch's logged training loss; the module logs its epoch means after callbacks' epoch-end hooks."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.losses: list[float] = []

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        if trainer.current_epoch > 0:
            self.losses.append(float(trainer.callback_metrics[self.key]))

    def on_train_end(self, trainer, pl_module) -> None:
        self.losses.append(float(trainer.callback_metrics[self.key]))


def fit_one_batch(module, batch: torch.Tensor, epochs: int, key: str = "train/loss") -> list[float]:
    history = LossHistory(key)
    loader = torch.utils.data.DataLoader(
        [{"image": image} for image in batch], batch_size=len(batch), collate_fn=ReconstructionBatch.collate
    )
    trainer = L.Trainer(
        max_epochs=epochs,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[history],
        limit_val_batches=0,
    )
    trainer.fit(module, train_dataloaders=loader)
    return history.losses


def vae(**options):
    model = {"name": "vae", "image_size": 32, "latent_size": 16, "kl_warmup_epochs": 0, **options}
    return build_module(model, {"mse": 1.0}, ADAM, None, (0.0, 1.0))


@pytest.mark.slow
def test_vae_kl_is_positive_and_overfitting_one_batch_lowers_the_loss(mni_batch):
    torch.manual_seed(0)
    module = vae()
    output = module(mni_batch)
    assert output.regularizers["kl"] > 0
    losses = fit_one_batch(module, mni_batch, epochs=40)
    assert losses[-1] < 0.5 * losses[0]


def test_vae_evaluates_on_the_posterior_mean_and_samples(mni_batch):
    module = vae().eval()
    first, second = module(mni_batch).reconstruction, module(mni_batch).reconstruction
    assert torch.equal(first, second)
    module.train()
    assert not torch.equal(module(mni_batch).reconstruction, module(mni_batch).reconstruction)
    module.eval()
    assert module.network.sample(5).shape == (5, 1, 32, 32)
    path = module.network.interpolate(mni_batch[0], mni_batch[1], steps=7)
    assert path.shape == (7, 1, 32, 32)
    assert torch.allclose(path[0], module(mni_batch[:1]).reconstruction[0], atol=1e-5)


def test_vae_kl_weight_warms_up_linearly():
    module = vae(beta=4.0, kl_warmup_epochs=4)
    trainer = L.Trainer(logger=False)
    module.trainer = trainer
    weights = []
    for epoch in range(6):
        trainer.fit_loop.epoch_progress.current.completed = epoch
        weights.append(module.kl_weight())
    assert weights == [1.0, 2.0, 3.0, 4.0, 4.0, 4.0]


@pytest.mark.slow
@pytest.mark.parametrize(("penalty", "weight"), [("l1", 0.1), ("kl", 5.0)])
def test_sparsity_penalty_makes_the_code_sparser_and_still_reconstructs(mni_batch, penalty, weight):
    def train_sparse(sparsity_weight: float) -> tuple[float, list[float]]:
        torch.manual_seed(0)
        model = {"name": "sparse", "image_size": 32, "penalty": penalty, "sparsity_weight": sparsity_weight}
        module = build_module(model, {"mse": 1.0}, ADAM, None, (0.0, 1.0))
        losses = fit_one_batch(module, mni_batch, epochs=30, key="train/loss_mse")
        module.eval()
        return float(module(mni_batch).latent.abs().mean()), losses

    dense_activity, _ = train_sparse(0.0)
    sparse_activity, losses = train_sparse(weight)
    assert sparse_activity < 0.5 * dense_activity
    assert losses[-1] < 0.4 * losses[0]
    if penalty == "kl":
        assert sparse_activity == pytest.approx(0.05, abs=0.03)  # the configured sparsity_target


def test_vqvae_reports_codebook_use(mni_batch):
    model = {"name": "vqvae", "image_size": 32, "num_embeddings": 64}
    output = build_module(model, {"mse": 1.0}, ADAM, None, (0.0, 1.0))(mni_batch)
    assert 1 <= output.diagnostics["perplexity"] <= 64
    assert output.diagnostics["codebook_usage"] == pytest.approx(output.diagnostics["perplexity"] / 64)
    assert output.regularizers["quantization"] >= 0


@pytest.mark.parametrize(
    ("model", "key"),
    [
        ({"name": "redcnn", "image_size": 16}, "data.image_size"),
        ({"name": "vqvae", "image_size": 30}, "model.channels"),
        ({"name": "vae", "image_size": 32, "beta": -1.0}, "model.beta"),
        ({"name": "dense", "image_size": 32, "activation": "swish"}, "model.activation"),
        ({"name": "sparse", "image_size": 32, "penalty": "l0"}, "model.penalty"),
        ({"name": "sparse", "image_size": 32, "sparsity_target": 1.5}, "model.sparsity_target"),
        ({"name": "vae", "image_size": 36}, "model.strides"),
    ],
)
def test_refused_model_options(model, key):
    with pytest.raises(ConfigError, match=f"^{key}: "):
        build_module(model, {"mse": 1.0}, ADAM, None, (0.0, 1.0))


def test_bce_is_refused_for_data_outside_unit_range():
    with pytest.raises(ConfigError, match=r"^loss.bce: needs data in \[0, 1\]"):
        build_module({"name": "conv", "image_size": 32}, {"bce": 1.0}, ADAM, None, (-1.0, 1.0))


@pytest.mark.slow
def test_vqvae_codebook_does_not_collapse_at_the_default_learning_rate(mni_batch):
    # MONAI's default normal init collapses to one code (perplexity 1.0 here); kaiming_uniform keeps ~2
    torch.manual_seed(0)
    default_adam = {**ADAM, "lr": 1e-3}
    module = build_module({"name": "vqvae", "image_size": 32}, {"mse": 1.0}, default_adam, None, (0.0, 1.0))
    losses = fit_one_batch(module, mni_batch, epochs=30, key="train/loss_mse")
    module.eval()
    assert module(mni_batch).diagnostics["perplexity"] > 1.5
    assert losses[-1] < 0.7 * losses[0]


def test_autoencoder_kl_regularises_its_spatial_latent_by_the_closed_form_kl(mni_batch):
    torch.manual_seed(0)
    model = {"name": "autoencoder_kl", "image_size": 32, "channels": [16, 16], "kl_weight": 1e-3}
    network = build_module(model, {"l1": 1.0}, ADAM, None, (0.0, 1.0)).network.eval()
    with torch.no_grad():
        mu, sigma = network.backbone.encode(mni_batch)
        expected = (0.5 * (mu**2 + sigma**2 - torch.log(sigma**2) - 1)).sum(dim=(1, 2, 3)).mean()
        output = network(mni_batch)
        assert output.regularizers["kl"] == pytest.approx(float(expected), rel=1e-5)
        assert output.latent.shape == (16, 4, 16, 16) and torch.equal(output.latent, mu)
        # eval reconstructs from the mean (deterministic); training samples the latent
        assert torch.equal(output.reconstruction, network(mni_batch).reconstruction)
        network.train()
        assert not torch.equal(network(mni_batch).reconstruction, network(mni_batch).reconstruction)
        mean, logvar = network.posterior(mni_batch[:2])
    assert mean.shape == logvar.shape == (2, 4 * 16 * 16)
    assert network.sample(3).shape == (3, 1, 32, 32)
    with pytest.raises(ConfigError, match=r"^model.image_size: 31 is not divisible by 2"):
        build_module({**model, "image_size": 31}, {"l1": 1.0}, ADAM, None, (0.0, 1.0))


def test_mae_hides_patches_in_training_only_and_puts_each_token_back_where_its_patch_was():
    torch.manual_seed(0)
    network = module_for("mae", 2, 32, hidden_size=36).network
    images = torch.rand(2, 1, 32, 32)
    assert network(images).latent.shape == (2, 1 + 16 // 4, 36)  # a quarter of the 16 patches, class token
    network.eval()
    assert network(images).latent.shape == (2, 1 + 16, 36)
    # a bright patch at grid row 1, column 2 changes only token 1 * 4 + 2 of the patch embedding
    bright = torch.zeros(1, 1, 32, 32)
    bright[..., 8:16, 16:24] = 1
    changed = (network.backbone.patch_embedding(bright) - network.backbone.patch_embedding(bright * 0)).abs()
    assert changed.sum(dim=-1).nonzero().flatten().tolist() == [0, 6]
    # and unpatchify puts token 6 back at that patch: (C, p, p) pixels per token, raster order
    tokens = torch.zeros(1, 16, 64)
    tokens[0, 6] = torch.arange(64.0)
    image = network.unpatchify(tokens)
    assert torch.equal(image[0, 0, 8:16, 16:24], torch.arange(64.0).reshape(8, 8))
    assert image.sum() == tokens.sum()
