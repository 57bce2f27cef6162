"""t2t-sweep's own settings (the trials' come from the sweep file). In a module of their
own so that t2t-trainer registers their gin name too: a sweep's --gin_file and --gin_param,
which may bind Sweep.*, are passed on to every trial."""
from t2t_lite import options
from t2t_lite.options import setting


@options.group("Sweep")
class SweepOptions(options.Options):
  sweep_file: str | None = setting(None, "The sweep (TOML): [base], [grid], [zip], "
                                   "[random], or [search].")
  output_dir: str | None = setting(None, "The sweep's folder: one subfolder per trial, and "
                                   "the summary and plot.")
  parallel: int = setting(1, "Trials run at once.", minimum=1)
  print_commands: bool = setting(False, "Validate, then print one t2t-trainer command per "
                                 "trial (for a cluster scheduler) instead of running them.")
  sort_by: str = setting("neg_log_perplexity", "Eval metric that ranks the trials in the "
                         "summary, in its direction (a [search] ranks by its metric).")
  progress_secs: float = setting(30.0, "Print the running trials' steps this often.",
                                 above=0)
  t2t_usr_dir: str | None = setting(None, "Your own registrations (also passed to each "
                                    "trial; overrides the sweep file's t2t_usr_dir).")
  worker: bool = setting(False, "[search]: join the search as one more worker: run its "
                         "trials until it is done, and write no report.")
  storage: str | None = setting(None, "[search]: the study's database, an SQLAlchemy URL "
                                "(e.g. postgresql+psycopg://user@host/db) that every worker "
                                "opens; default sqlite:///OUTPUT_DIR/study.db (one machine).")
  study_name: str | None = setting(None, "[search]: the study's name in --storage "
                                   "(default: the name of --output_dir).")
  heartbeat_secs: int = setting(60, "[search]: how often a worker records that its trials "
                                "are alive; a trial silent for three beats is given to "
                                "another worker, which resumes it from its checkpoint.",
                                minimum=1)
