"""Every binary refuses every value of every numeric flag (and of every numeric setting of a
flag holding settings, such as --decode_hparams, and of the trainer's model and engine
hparams) that its declaration does not allow: one `error:` line naming the flag, exit 2,
nothing written. The invalid values are generated from the declarations, never listed by
hand, so a flag added tomorrow is checked tomorrow.

Each binary runs in its own process through its real entry point (the console script's
`run()`: absl flag parsing, run_main's error boundary, main), once per invalid value:
importing TensorFlow once per binary keeps this to seconds, which is also the point of the
checks, since they all happen before TensorFlow does any real work."""
import json
import subprocess

import pytest

from tests.bin import helpers
from tests.bin.helpers import ENV

# The binaries whose declared bounds are driven here (t2t-docs declares no bounded flag).
BINARIES = ["t2t_datagen", "t2t_trainer", "t2t_decoder", "t2t_bleu", "t2t_exporter",
            "t2t_avg_checkpoints", "t2t_benchmark", "t2t_sweep", "t2t_local_cluster",
            "t2t_launch", "t2t_serve"]

pytestmark = pytest.mark.slow

# Settings a flag holds as 'name=value,...', parsed by the named option group.
SETTINGS_FLAGS = {"decode_hparams": "t2t_lite.decoding.decoder.DecodeHParams",
                  "eval_decode_hparams": "t2t_lite.decoding.decoder.DecodeHParams"}

# Runs one binary's run() once per invalid value; prints one JSON line of the results.
DRIVER = r"""
import contextlib, importlib, io, json, os, sys
from absl import flags
binary, out_root, settings_flags, base = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), \
    json.loads(sys.argv[4])
module = importlib.import_module("t2t_lite.bin." + binary)
from t2t_lite import experiment, gin_config, options, registry
FLAGS = flags.FLAGS
own = {f.name for m, fs in FLAGS.flags_by_module_dict().items() if m.startswith("t2t_lite")
       for f in fs}

def groups(cls=options.Options):
  for sub in cls.__subclasses__():
    yield sub
    yield from groups(sub)

def group_by_path(path):
  module_name, name = path.rsplit(".", 1)
  return getattr(importlib.import_module(module_name), name)

cases, unbounded = [], []
for group in set(groups()):
  for name, type_, declaration, _ in group.declarations():
    flag = group.flag_name(name)
    # A flag two groups declare is defined by one of them: the one whose help it has.
    if flag not in own or type_ not in (int, float) or FLAGS[flag].help != declaration.help:
      continue
    bad = declaration.bounds.invalid_values(type_)
    if not bad:
      unbounded.append(flag)
    cases += [[[f"--{flag}={v}"], f"--{flag}={v}"] for v in bad]
for flag, path in settings_flags.items():
  if flag in own:
    for name, type_, declaration, _ in group_by_path(path).declarations():
      if type_ in (int, float):
        bad = declaration.bounds.invalid_values(type_)
        if not bad:
          unbounded.append(f"{flag}:{name}")
        cases += [[[f"--{flag}={name}={v}"], f"{name}={v}"] for v in bad]
if binary == "t2t_trainer":  # the hparams of the model and the engine, through --hparams
  experiment.load_registrations()
  for spec in registry.model("transformer").all_hparam_specs():
    if spec.type in (int, float):
      cases += [[[f"--hparams={spec.name}={v}"], f"hparam {spec.name}={v}"]
                for v in spec.bounds.invalid_values(spec.type)]
cases += json.loads(sys.argv[5])

results = []
for i, (args, expect) in enumerate(cases):
  out = os.path.join(out_root, f"case{i}")
  argv = [binary.replace("_", "-")] + [a.replace("OUT", out) for a in base] + args
  FLAGS.unparse_flags()
  gin_config.clear()
  sys.argv = argv
  stderr = io.StringIO()
  code = None
  try:
    with contextlib.redirect_stderr(stderr):
      module.run()
  except SystemExit as e:
    code = e.code
  results.append({"args": args, "expect": expect, "code": code, "stderr": stderr.getvalue(),
                  "wrote": os.path.exists(out)})
print(json.dumps({"results": results, "unbounded": unbounded}))
"""

TRAINER = ["--problem=algorithmic_reverse_decimal40", "--model=transformer",
           "--hparams_set=transformer_tiny", "--output_dir=OUT", "--data_dir=OUT/data"]
# What each binary needs besides the invalid value to get past its other checks.
# (--decode_hparams is parsed by the problem's decoder: the decoder and exporter are told
# the problem, as a run.json would.)
NAMES = ["--problem=algorithmic_reverse_decimal40", "--model=transformer"]
BASE = {"t2t_trainer": TRAINER, "t2t_decoder": ["--output_dir=OUT", *NAMES],
        "t2t_exporter": ["--output_dir=OUT", *NAMES], "t2t_avg_checkpoints": ["--output_dir=OUT"],
        "t2t_benchmark": ["--model=transformer", "--hparams_set=transformer_tiny"],
        "t2t_sweep": ["--sweep_file=OUT.toml", "--output_dir=OUT"],
        "t2t_local_cluster": []}
# Checks that need more than a bound, and flags absl itself cannot parse.
EXTRA = {
    "t2t_trainer": [
        [["--worker_gpu=2"], "--worker_gpu=2 applies to --strategy=mirrored only"],
        [["--tpu=my-tpu"], "--tpu=my-tpu applies to --strategy=tpu only"],
        # More replicas than the devices present (a GPU-less machine simulates a few).
        [["--strategy=mirrored", "--worker_gpu=4096"],
         "--worker_gpu=4096"],
        [["--train_steps=five"], "flag --train_steps=five"],
        [["--schedule=sometimes"], "flag --schedule=sometimes"],
        [["--hparams=layer_prepostprocess_dropout=1.0"],
         "hparam layer_prepostprocess_dropout=1.0 must be < 1"]],
    "t2t_benchmark": [[["--worker_gpu=2"], "--worker_gpu=2 applies to --strategy=mirrored"],
                      [["--strategy=mirrored", "--worker_gpu=4096"],
                       "--worker_gpu=4096"]],
    "t2t_decoder": [[["--decode_hparams=num_samples=0"], "num_samples=0 must be >= 1 or -1"],
                    [["--decode_hparams=sampling_keep_top_k=0"],
                     "sampling_keep_top_k=0 must be >= 1 or -1"]],
}


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
  procs = {}
  for binary in BINARIES:
    root = str(tmp_path_factory.mktemp(binary))
    procs[binary] = subprocess.Popen(
        helpers.python_c() + [DRIVER, binary, root, json.dumps(SETTINGS_FLAGS),
                              json.dumps(BASE.get(binary, [])),
                              json.dumps(EXTRA.get(binary, []))],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
  out = {}
  for binary, proc in procs.items():
    stdout, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 0, stderr[-3000:]
    out[binary] = json.loads(stdout.strip().splitlines()[-1])
  return out


def test_every_numeric_flag_is_declared_with_a_valid_range(outcomes):
  unbounded = {b: o["unbounded"] for b, o in outcomes.items() if o["unbounded"]}
  assert not unbounded


def test_every_invalid_numeric_value_is_one_line_and_exit_2_before_anything_is_written(
    outcomes):
  counts = {b: len(o["results"]) for b, o in outcomes.items()}
  # train_steps ... random_seed, eval_decode_hparams' and the transformer's hparams; the
  # benchmark's shapes; the decoder's and exporter's decode_hparams; --n; --parallel ...
  assert counts["t2t_trainer"] >= 60 and counts["t2t_benchmark"] >= 15, counts
  assert counts["t2t_decoder"] >= 10 and counts["t2t_exporter"] >= 8, counts
  assert min(counts[b] for b in ("t2t_avg_checkpoints", "t2t_sweep",
                                 "t2t_local_cluster")) >= 1, counts
  for binary, outcome in outcomes.items():
    for r in outcome["results"]:
      prog = binary.replace("_", "-")
      lines = [l for l in r["stderr"].splitlines() if l.strip()]
      assert r["code"] == 2 and len(lines) == 1, (binary, r)
      assert lines[0].startswith(f"{prog}: error: ") and r["expect"] in lines[0], (binary, r)
      assert not r["wrote"], (binary, r)
