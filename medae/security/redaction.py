"""Keep credentials out of everything a run logs: params, tags, config artifacts and checkpoints.

MLflow reads credentials from ``MLFLOW_TRACKING_USERNAME``/``MLFLOW_TRACKING_PASSWORD`` (or
``MLFLOW_TRACKING_TOKEN``), which medae never copies into a run. What can still leak is a password
written into a URI (``http://user:password@host``) or a value read from the environment into the config
(``${oc.env:LAB_TOKEN}``): :func:`redact` masks URI passwords and known secret variables, and
:func:`redacted_config` masks every value that came from an environment variable other than medae's own
folder and store settings.
"""

import os
import re
from collections.abc import Mapping
from typing import Any

from omegaconf import DictConfig, OmegaConf

SECRET_ENV_VARS = (
    "MLFLOW_TRACKING_PASSWORD",
    "MLFLOW_TRACKING_TOKEN",
    "MLFLOW_AUTH_ADMIN_PASSWORD",
    "AWS_SECRET_ACCESS_KEY",
    "AZURE_STORAGE_ACCESS_KEY",
    "PGPASSWORD",
)
MASK = "***"
URI_PASSWORD = re.compile(r"(://[^/\s:@]+:)[^@/\s]+@")
ENV_CALL = re.compile(r"\$\{oc\.env:([A-Za-z_][A-Za-z0-9_]*)")
NODE_REFERENCE = re.compile(r"\$\{([A-Za-z_][\w.]*)\}")
# medae's own settings of where folders and stores are: a run's record names them on purpose
LOCATION_VARIABLES = (
    "MEDAE_ROOT",
    "MEDAE_MEDMNIST_DIR",
    "MEDAE_COLIN27_DIR",
    "MEDAE_CACHE_DIR",
    "MEDAE_OPTUNA_STORAGE",
    "HOME",
)


def redact(text: str) -> str:
    """``text`` with URI passwords and the values of secret environment variables masked.

    Example:
        >>> redact("http://alice:s3cret@127.0.0.1:5000")
        'http://alice:***@127.0.0.1:5000'
    """
    text = URI_PASSWORD.sub(rf"\1{MASK}@", text)
    for name in SECRET_ENV_VARS:
        secret = os.environ.get(name)
        if secret and len(secret) >= 4:
            text = text.replace(secret, MASK)
    return text


def without_user_info(uri: str) -> str:
    """``uri`` without the ``user:password@`` part of its address, for a line a person reads.

    Example:
        >>> without_user_info("http://alice:s3cret@127.0.0.1:5000/#/experiments/1")
        'http://127.0.0.1:5000/#/experiments/1'
    """
    return re.sub(r"(://)[^/\s@]+@", r"\1", uri, count=1)


def redact_values(value: Any) -> Any:
    """A copy of nested dicts and lists with every string passed through :func:`redact`.

    Example:
        >>> redact_values({"uri": "postgresql://u:pw@db/x", "n": [1, "a"]})
        {'uri': 'postgresql://u:***@db/x', 'n': [1, 'a']}
    """
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: redact_values(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(redact_values(item) for item in value)
    return value


def _flat(node: Any, key: str = "") -> dict[str, Any]:
    if isinstance(node, dict):
        flat: dict[str, Any] = {}
        for child, value in node.items():
            flat |= _flat(value, f"{key}.{child}" if key else str(child))
        return flat
    if isinstance(node, list):
        return {
            key: node,
            **{k: v for i, item in enumerate(node) for k, v in _flat(item, f"{key}[{i}]").items()},
        }
    return {key: node}


def environment_keys(cfg: DictConfig, environ: Mapping[str, str] = os.environ) -> set[str]:
    """Keys of ``cfg`` whose value comes from a set environment variable, directly or through another key.

    medae's own folder and store settings (:data:`LOCATION_VARIABLES`) are left out.

    Example:
        >>> cfg = OmegaConf.create({"a": "${oc.env:TOKEN}", "b": "x/${a}", "c": "${oc.env:HOME}", "d": 1})
        >>> sorted(environment_keys(cfg, {"TOKEN": "t0k3n", "HOME": "/root"}))
        ['a', 'b']
    """
    flat = _flat(OmegaConf.to_container(cfg, resolve=False))
    texts = {key: value for key, value in flat.items() if isinstance(value, str)}
    found = {
        key
        for key, value in texts.items()
        if any(name in environ and name not in LOCATION_VARIABLES for name in ENV_CALL.findall(value))
    }
    grown = True
    while grown:  # keys that interpolate a found key (or a node above one) come from the environment too
        more = {
            key
            for key, value in texts.items()
            if key not in found
            for ref in NODE_REFERENCE.findall(value)
            if any(ref == hit or hit.startswith(f"{ref}.") for hit in found)
        }
        found |= more
        grown = bool(more)
    return found


def redacted_config(cfg: DictConfig, environ: Mapping[str, str] = os.environ) -> dict[str, Any]:
    """``cfg`` resolved as plain data, with environment values (:func:`environment_keys`) and secrets masked.

    Example:
        >>> cfg = OmegaConf.create({"tags": {"t": "${oc.env:TOKEN,t0k3n}"}, "uri": "http://u:pw@h", "n": 1})
        >>> redacted_config(cfg, {"TOKEN": "t0k3n"})
        {'tags': {'t': '***'}, 'uri': 'http://u:***@h', 'n': 1}
    """
    masked = environment_keys(cfg, environ)
    plain = OmegaConf.to_container(cfg, resolve=True)

    def mask(node: Any, key: str) -> Any:
        if key in masked:
            return MASK
        if isinstance(node, dict):
            return {
                child: mask(value, f"{key}.{child}" if key else str(child)) for child, value in node.items()
            }
        if isinstance(node, list):
            return [mask(item, f"{key}[{index}]") for index, item in enumerate(node)]
        return node

    masked_plain: dict[str, Any] = redact_values(mask(plain, ""))
    return masked_plain


def mask_logged_tags(cfg: DictConfig, environ: Mapping[str, str] = os.environ) -> None:
    """Mask, in ``cfg`` itself, the run name and tags a logger sends that came from the environment.

    Example:
        >>> cfg = OmegaConf.create({"logger": {"mlflow": {"tags": {"t": "${oc.env:TOKEN,t0k3n}", "u": 1}}}})
        >>> mask_logged_tags(cfg, {"TOKEN": "t0k3n"})
        >>> OmegaConf.to_container(cfg.logger.mlflow.tags)
        {'t': '***', 'u': 1}
    """
    for key in sorted(environment_keys(cfg, environ)):
        parts = key.split(".")
        if parts[0] == "logger" and len(parts) > 2 and (parts[2] == "tags" or parts[2:] == ["run_name"]):
            OmegaConf.update(cfg, key, MASK, force_add=True)
