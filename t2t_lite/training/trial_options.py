"""Which trial of a t2t-sweep search a run is: the study_trial.* group t2t-sweep binds in
each trial's command. It lives below gin_config (which makes every run's config.gin
parseable by every binary) and below the search itself; sweep/pruning.py turns it into
the trial's pruning listener.
"""
import gin

from t2t_lite import options
from t2t_lite.options import setting


@options.group("study_trial")
class StudyTrialOptions(options.Options):
  """Which trial of a t2t-sweep search a run is (t2t-sweep binds these in each trial's
  command; gin only)."""
  storage: str | None = setting(None, "The study's database URL.", flag="")
  study_name: str | None = setting(None, "The study's name.", flag="")
  trial_number: int | None = setting(None, "The trial's number in the study.", flag="",
                                     minimum=0)


def configured() -> StudyTrialOptions | None:
  """The run's study_trial.* bindings, None when there are none: a run outside a search
  does not make the group, so its config.gin (what gin saw made) stays without it."""
  for name, _, _, _ in StudyTrialOptions.declarations():
    try:
      gin.query_parameter(f"{StudyTrialOptions.gin_name}.{name}")
    except ValueError:  # not bound
      continue
    return StudyTrialOptions.from_config()
  return None
