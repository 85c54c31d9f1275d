"""Variants declare what they can do, applications say what they need, and a misfit stops before training."""

import functools

import pytest
import torch
from monai.networks.nets import AutoEncoder

from medae.applications.parts.registry import build_application
from medae.applications.parts.requirements import needed_capabilities
from medae.commands.train import train
from medae.errors import CapabilityError
from medae.models.capabilities import (
    CAPABILITIES,
    Encodes,
    HasBackbone,
    HasDiscreteCode,
    HasPosterior,
    Samples,
    declared,
)
from medae.models.registry import MODELS, require, variants_with
from tests.conftest import SMALL_OPTIONS, medae, module_for, runs_in_store


@pytest.mark.parametrize("name", sorted(MODELS))
def test_declared_capabilities_are_really_there(name):
    network = module_for(name, 2, 32, **SMALL_OPTIONS.get(name, {})).network.eval()
    for capability in declared(type(network)):
        assert capability in CAPABILITIES
        assert isinstance(network, capability), f"{name} declares {capability.__name__} but lacks its members"
    images = torch.rand(3, 1, 32, 32)
    if Encodes in declared(type(network)):
        assert network.decode(network.encode(images)).shape == images.shape
    if Samples in declared(type(network)):
        assert network.sample(4, torch.Generator().manual_seed(0)).shape == (4, 1, 32, 32)
    if HasPosterior in declared(type(network)):
        mean, log_variance = network.posterior(images)
        assert mean.shape == log_variance.shape
    if HasBackbone in declared(type(network)):
        assert isinstance(network.backbone, AutoEncoder)
    if not isinstance(network, Encodes):
        assert Encodes not in declared(type(network))


def test_the_registry_knows_which_variants_can_do_what():
    assert {"conv", "dense", "sparse", "vae", "vqvae"} <= set(variants_with(Encodes))
    assert "redcnn" not in variants_with(Encodes)  # its shortcuts carry the image past the bottleneck
    assert "vae" in variants_with(Samples) and "vae" in variants_with(HasPosterior)
    assert "vqvae" in variants_with(HasDiscreteCode)
    assert {"conv", "sparse"} <= set(variants_with(HasBackbone))


@pytest.mark.parametrize(
    ("application", "options", "needed"),
    [
        ("generation", [], (Samples,)),
        ("compression", [], (Encodes,)),
        ("segmentation", [], (HasBackbone,)),
        ("anomaly", [], ()),
        ("anomaly", ["application.score=elbo"], (HasPosterior,)),
        ("denoising", [], ()),
    ],
)
def test_applications_declare_what_they_need(make_config, application, options, needed):
    cfg = make_config(f"application={application}", *options, "data.noise_std=0.1")
    assert needed_capabilities(build_application(cfg.application)) == needed


def test_a_misfit_stops_before_any_run_in_one_line(make_config, tmp_path):
    unable = next(name for name in sorted(MODELS) if name not in variants_with(Samples))
    with pytest.raises(CapabilityError) as error:
        train(make_config(f"model={unable}", "application=generation"))
    assert str(error.value) == (
        f"model={unable} cannot run application=generation: it needs Samples "
        f"(variants that can: {', '.join(variants_with(Samples))})"
    )
    assert runs_in_store(tmp_path) == []


def test_an_option_that_needs_a_capability_is_checked_too():
    with pytest.raises(
        CapabilityError, match=r"it needs HasPosterior \(variants that can: autoencoder_kl, vae, vaegan\)"
    ):
        require("conv", [HasPosterior], "anomaly")


@pytest.mark.slow
def test_the_command_line_names_the_misfit_and_the_variants_that_fit(tmp_path):
    done = medae(["train", "model=redcnn", "application=compression", "debug=limit"], tmp_path, timeout=120)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    able = ", ".join(variants_with(Encodes))
    assert done.stderr.strip().splitlines()[-1] == (
        "medae: error: model=redcnn cannot run application=compression: it needs Encodes "
        f"(variants that can: {able})"
    )
    assert runs_in_store(tmp_path) == []


def test_a_direct_call_of_an_application_checks_its_needs_as_well():
    from medae.applications import generation

    class Context:
        module = type("Module", (), {"registry_name": "conv"})()

    with pytest.raises(CapabilityError, match="model=conv cannot run application=generation"):
        functools.partial(generation.evaluate)(Context())
