"""The reference pages of the documentation, generated from the declarations at build time:
every binary's flags (flags.py), the hparams groups and the sets that change them
(hparams.py), --decode_hparams and --problem_settings (settings.py), the registered names
(names.py), rendered as Markdown (markdown.py) into pages (pages.py). `t2t-docs` writes
them; mkdocs_hook.py adds them to `mkdocs build`. Nothing here is kept by hand: a new flag,
hparam or registration appears in the next build.
"""
