"""Which Optuna trial a ``hparams_search=optuna`` job is, in a study that several sweeps may share.

The sweeper asks the study for a trial, turns its params into the job's overrides and launches the job,
so the job knows its params but not its trial number. In a persistent study (``paths.optuna_storage``)
the number counts every worker's trials, so the job finds its own: the running trial whose params equal
its overrides. The trial then records the MLflow run id as its user attribute ``mlflow_run_id``.
"""

import math
from typing import Any

import optuna
from omegaconf import DictConfig

from medae.compat import optuna_trial_handle

MLFLOW_RUN_ATTR = "mlflow_run_id"


def override_values(task_overrides: list[str]) -> dict[str, str]:
    """``key=value`` overrides as a dict, without ``+``/``~`` prefixes."""
    pairs = (override.split("=", 1) for override in task_overrides if "=" in override)
    return {key.lstrip("+~"): value for key, value in pairs}


def same_value(trial_value: Any, override: str) -> bool:
    """Whether a trial's param equals the override string the sweeper made from it."""
    if isinstance(trial_value, float):
        try:
            return math.isclose(trial_value, float(override), rel_tol=1e-12)
        except ValueError:
            return False
    return str(trial_value) == override


def find_trial(study: optuna.Study, overrides: dict[str, str]) -> optuna.trial.FrozenTrial | None:
    """The newest running trial whose every param equals the job's override of the same key."""
    running = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
    matching = [
        trial
        for trial in running
        if trial.params
        and all(key in overrides and same_value(value, overrides[key]) for key, value in trial.params.items())
    ]
    return max(matching, key=lambda trial: trial.number, default=None)


def link_trial(sweeper: DictConfig, task_overrides: list[str], job_num: int, run_id: str) -> dict[str, str]:
    """Tags naming the job's study and trial; the trial gets the MLflow run id when the study is stored.

    Without storage the study lives in the sweeper's memory, where trial numbers are job numbers.

    Example:
        ``link_trial(HydraConfig.get().sweeper, HydraConfig.get().overrides.task, 0, run_id)`` gives
        ``{"medae.optuna.study": "train-conv-mni152", "medae.optuna.trial": "7"}`` for a shared study's
        8th trial.
    """
    tags = {"medae.optuna.study": str(sweeper.study_name), "medae.optuna.trial": str(job_num)}
    if not sweeper.get("storage"):
        return tags
    study = optuna.load_study(study_name=str(sweeper.study_name), storage=str(sweeper.storage))
    trial = find_trial(study, override_values(list(task_overrides)))
    if trial is not None:
        optuna_trial_handle(study, trial).set_user_attr(MLFLOW_RUN_ATTR, run_id)
        tags["medae.optuna.trial"] = str(trial.number)
    return tags
