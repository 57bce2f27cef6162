"""A guided search's trainer commands: the trials the study has made, in trial order, each
bound to report to its trial."""
import textwrap

from t2t_lite.sweep import search, spec
from t2t_lite.sweep import study as study_lib
from tests.sweep.test_spec import BASE

SWEEP = BASE + """
[search]
trials = 3
metric = "accuracy"
direction = "maximize"
hparams.num_heads = {values = [2, 4]}
"""
SPEC = {"fingerprint": "f", "sweep_file": "s.toml", "metric": "accuracy",
        "direction": "maximize", "pruner": "median", "pruner_options": {}, "train_steps": 20}


def test_trial_commands_of_the_trials_made_so_far(tmp_path):
  path = tmp_path / "s.toml"
  path.write_text(textwrap.dedent(SWEEP))
  sweep, url = spec.load(str(path)), f"sqlite:///{tmp_path}/study.db"
  assert search.trial_commands(sweep, str(tmp_path / "runs"), url, "s", SPEC) is None
  study = study_lib.open_study(study_lib.open_storage(url), "s", SPEC)
  for heads in (4, 2):
    trial = study.ask()
    trial.set_user_attr(study_lib.OVERRIDES, {"hparams.num_heads": heads})
    trial.set_user_attr(study_lib.FOLDER, f"num_heads-{heads}")
  first, second = search.trial_commands(sweep, str(tmp_path / "runs"), url, "s", SPEC)
  assert first[0] == "t2t-trainer"
  assert first[-1] == f"--output_dir={tmp_path / 'runs' / 'num_heads-4'}"
  assert "--gin_param=hparams.num_heads = 4" in first
  assert "--gin_param=Trainer.train_steps = 20" in first
  assert [a for a in second if a.startswith("--gin_param=study_trial.")] == [
      f'--gin_param=study_trial.storage = "{url}"',
      '--gin_param=study_trial.study_name = "s"',
      "--gin_param=study_trial.trial_number = 1"]
