import pytest
import torch

from medae.commands.catalog import format_catalog
from medae.config.type_check import check_types
from medae.data.batch import ReconstructionBatch
from medae.errors import ConfigError
from medae.models.losses import LOSS_TERMS, ReconstructionLoss
from medae.models.registry import MODELS, build_module, load_module
from medae.models.training_means import TrainingMeans
from tests.conftest import SMALL_OPTIONS, TEST_SIZES, module_for

ADAM = {"_target_": "torch.optim.Adam", "_partial_": True, "lr": 1e-3}
MSE = {"mse": 1.0}


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_every_variant_reconstructs_the_input_shape(name, spatial_dims):
    size = TEST_SIZES[spatial_dims]
    module = module_for(name, spatial_dims, size, **SMALL_OPTIONS.get(name, {}))
    images = torch.rand(2, 1, *([size] * spatial_dims))
    output = module(images)
    assert output.reconstruction.shape == images.shape
    assert output.reconstruction.min() >= 0 and output.reconstruction.max() <= 1
    assert output.latent.shape[0] == 2


def test_conv_latent_has_the_configured_bottleneck():
    output = module_for("conv", 2, 64, latent_channels=4)(torch.rand(1, 1, 64, 64))
    assert output.latent.shape == (1, 4, 8, 8)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"strides": [2, 2]}, "model.strides: needs one stride per entry of model.channels"),
        ({"latent_channels": 0}, "model.latent_channels: expected int > 0, got 0 (int)"),
        ({"latnt": 3}, "model.latnt: is not an option of model 'conv'; allowed:"),
        ({"channels": "wide"}, "model.channels: expected list[int > 0] of at least 1"),
    ],
)
def test_invalid_model_options_are_refused(options, message):
    with pytest.raises(ConfigError) as error:
        module_for("conv", 2, 32, **options)
    assert str(error.value).startswith(message)


def test_unknown_model_lists_registered_ones():
    with pytest.raises(ConfigError) as error:
        build_module({"name": "nope"}, MSE, ADAM, None, (0.0, 1.0))
    message, _, allowed = str(error.value).partition("; allowed: ")
    assert message == "model.name: unknown model 'nope'"
    assert set(allowed.split(", ")) == set(MODELS)


def test_catalog_lists_every_variant_with_options_and_capabilities():
    catalog = format_catalog("model")
    for name in MODELS:
        assert f"\n{name}\n" in f"\n{catalog}\n"
    assert "latent_channels=8" in catalog
    vae = catalog.split("\nvae\n")[1].split("\n")
    assert vae[2] == "    capabilities: Encodes, HasPosterior, Samples"


@pytest.mark.parametrize("name", sorted(LOSS_TERMS))
def test_each_loss_term_is_zero_for_a_perfect_reconstruction_and_positive_otherwise(name):
    loss = ReconstructionLoss({name: 1.0}, (0.0, 1.0))
    target = torch.rand(2, 1, 16, 16).clamp(0.05, 0.95)
    perfect = loss(target, target)["total"]
    worse = loss((target + 0.2).clamp(0, 1), target)["total"]
    if name == "bce":  # cross-entropy is minimal, not zero, at the target
        assert worse > perfect
    else:
        assert perfect.item() == pytest.approx(0.0, abs=1e-5)
        assert worse.item() > 1e-3


def test_weighted_sum_of_losses():
    target, prediction = torch.zeros(1, 1, 8, 8), torch.full((1, 1, 8, 8), 0.5)
    terms = ReconstructionLoss({"mse": 2.0, "l1": 0.5, "ssim": 0.0}, (0.0, 1.0))(prediction, target)
    assert set(terms) == {"mse", "l1", "total"}
    assert terms["total"].item() == pytest.approx(2 * 0.25 + 0.5 * 0.5)


def test_training_means_weight_by_images_and_add_up_ranks_first():
    means = TrainingMeans()
    means.add({"train/loss": torch.tensor(2.0)}, batch_size=4)
    means.add({"train/loss": torch.tensor(1.0), "train/kl": torch.tensor(6.0)}, batch_size=2)
    alone = means.compute()
    assert alone["train/loss"].item() == pytest.approx((2 * 4 + 1 * 2) / 6)
    assert alone["train/kl"].item() == pytest.approx(6.0)  # over the images of the step that logged it
    # a second rank with loss 4 over 10 images and kl 1 over 10: sums of both, then the division
    other_rank = torch.tensor([10.0, 40.0, 10.0, 10.0], dtype=torch.float64)  # sorted names: kl, loss
    together = means.compute(lambda totals: totals + other_rank)
    assert together["train/loss"].item() == pytest.approx((10 + 40) / 16)
    assert together["train/kl"].item() == pytest.approx((12 + 10) / 12)
    means.reset()
    assert means.compute() == {}


def test_reconstruction_batch_moves_every_tensor_and_keeps_input_as_image():
    batch = ReconstructionBatch.collate([{"image": torch.rand(1, 4, 4), "label": 1, "subject": "a"}] * 2)
    module = module_for("conv", 2, 32, latent_channels=4)
    moved = module.transfer_batch_to_device(batch, torch.device("meta"), 0)
    assert (moved.image.device.type, moved.label.device.type) == ("meta", "meta")
    assert moved.input is moved.image and moved.subject == ["a", "a"]


def test_bce_is_refused_outside_unit_range():
    with pytest.raises(ConfigError, match=r"^loss.bce: needs data in \[0, 1\]"):
        ReconstructionLoss({"bce": 1.0}, (-1.0, 1.0))


def test_all_zero_loss_weights_are_refused():
    with pytest.raises(ConfigError, match="^loss: all weights are 0"):
        ReconstructionLoss({"mse": 0.0}, (0.0, 1.0))


def test_checkpoint_loads_without_config(tmp_path):
    import lightning as L

    module = module_for("conv", 2, 32, latent_channels=4)
    trainer = L.Trainer(max_epochs=0, logger=False, enable_checkpointing=False)
    trainer.strategy.connect(module)
    path = tmp_path / "model.ckpt"
    trainer.save_checkpoint(path)
    loaded = load_module(path)
    assert loaded.config.latent_channels == 4
    images = torch.rand(1, 1, 32, 32)
    module.eval(), loaded.eval()
    assert torch.allclose(module(images).reconstruction, loaded(images).reconstruction)


def test_type_check_accepts_ints_for_floats_and_refuses_bools_for_ints():
    class Options:
        def __init__(self, rate: float = 0.1, size: int = 3, name: str | None = None) -> None: ...

    check_types("x", {"rate": 1, "size": 3, "name": None}, Options)
    with pytest.raises(ConfigError, match="x.size: expected int, got True"):
        check_types("x", {"size": True}, Options)


@pytest.mark.parametrize(
    ("value_range", "activation"),
    [((0.0, 1.0), torch.nn.Sigmoid), ((-1.0, 1.0), torch.nn.Tanh), ((-5.0, 5.0), torch.nn.Identity)],
)
def test_output_activation_follows_the_data_range(value_range, activation):
    module = build_module({"name": "conv", "image_size": 32}, MSE, ADAM, None, value_range)
    assert isinstance(module.network.output_activation, activation)
    assert module.quality_metrics("test")["psnr"].data_range == value_range[1] - value_range[0]
