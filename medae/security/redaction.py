"""Keep credentials out of everything a run logs: params, tags, config artifacts and checkpoints.

MLflow reads credentials from ``MLFLOW_TRACKING_USERNAME``/``MLFLOW_TRACKING_PASSWORD`` (or
``MLFLOW_TRACKING_TOKEN``), which medae never copies into a run. What can still leak is a password
written into a URI (``http://user:password@host``) or a secret interpolated into the config
(``${oc.env:MLFLOW_TRACKING_PASSWORD}``); :func:`redact` replaces both with ``***``.
"""

import os
import re
from typing import Any

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
