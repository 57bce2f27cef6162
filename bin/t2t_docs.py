"""t2t-docs: writes the reference pages of the documentation from the declarations: every
binary's flags, the hparams groups, --decode_hparams, --problem_settings and the registered
names (the pages `mkdocs build` adds to the site).

  t2t-docs --output_dir=docs_out                     # the built-in reference
  t2t-docs --t2t_usr_dir=my_usr_dir --output_dir=my_docs
      # your directory's own problems, models, hparams sets and hparams groups
"""

from t2t_lite import options
from t2t_lite.bin import common_flags
from t2t_lite.bin.common_flags import FLAGS
from t2t_lite.errors import UserError
from t2t_lite.options import setting
from t2t_lite.reference import pages


@options.group("Docs")
class DocsOptions(options.Options):
  output_dir: str | None = setting(None, "Where the pages go (reference/*.md under it).")


common_flags.define_flags(DocsOptions)
common_flags.define_flags(common_flags.RegistryOptions, only=("t2t_usr_dir",))
common_flags.define_gin_flags()


def configuration():
  """DocsOptions from the flags and gin (Docs.*)."""
  common_flags.parse_gin(DocsOptions)
  return DocsOptions.from_config()


def main(argv):
  del argv
  output_dir = configuration().output_dir
  if not output_dir:
    raise UserError("missing --output_dir: where to write the pages")
  usr = FLAGS.t2t_usr_dir
  for path in pages.write(pages.build(usr, with_flags=not usr), output_dir):
    print(path)


def run():
  common_flags.run_main(main, "t2t-docs")


if __name__ == "__main__":
  run()
