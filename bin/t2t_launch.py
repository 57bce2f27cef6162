"""t2t-launch: runs a t2t-trainer command line on a cluster. It checks the trainer's flags
(and gin) here, as t2t-trainer would, then writes the manifests (Kubeflow TFJob) or prints
the commands (every host of a Cloud TPU VM slice) that run exactly that command; or, with
--target=serving, checks a t2t-serve command line and writes the manifests that serve the
export (t2t-serve Deployment + Service + HorizontalPodAutoscaler; for a SavedModel also
TensorFlow Serving and a KServe InferenceService):

  t2t-launch --image=ghcr.io/me/t2t:1 --num_workers=4 --gpus_per_worker=8 --pvc=t2t-runs \\
      -- --strategy=multi_worker_mirrored --problem=translate_ende_wmt32k \\
      --model=transformer --hparams_set=transformer_big --output_dir=/runs/ende
  kubectl apply -f ende.tfjob.yaml

  t2t-launch --target=tpu_vm --tpu_name=my-v4-32 --zone=us-central2-b --tpu_hosts=4 \\
      -- --problem=... --output_dir=gs://my-bucket/runs/ende

  t2t-launch --target=serving --image=ghcr.io/me/t2t:1 --pvc=t2t-runs --cpu=4 \\
      --memory=8Gi -- --export_dir=/runs/ende/export/250000 --max_batch_size=32
"""
import os
import re

from absl import flags

from t2t_lite import experiment, options
from t2t_lite.bin import common_flags, trainer_flags
from t2t_lite.bin.common_flags import FLAGS
from t2t_lite.errors import UserError
from t2t_lite.experiment import RunOptions
from t2t_lite.launch import serving, tf_config, tfjob, tpu_vm, yaml_text
from t2t_lite.options import setting
from t2t_lite.serving.server_options import ServeOptions
from t2t_lite.training import cluster
from t2t_lite.training.trainer import TrainerOptions

TARGETS = ("tfjob", "tpu_vm", "serving")
_DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")


@options.group("Launch")
class LaunchOptions(cluster.ClusterShape):
  """t2t-launch's settings (the trainer's own come after --)."""
  target: str = setting("tfjob", "tfjob: write a Kubeflow TFJob manifest for Kubernetes; "
                        "tpu_vm: print the commands that run the trainer on every host of "
                        "a Cloud TPU VM slice; serving: write the Kubernetes manifests that "
                        "serve an export (t2t-serve flags after --).", choices=TARGETS)
  image: str | None = setting(None, "tfjob: the container image, with t2t_lite (and your "
                              "--t2t_usr_dir, gin files and data paths) in it.")
  job_name: str | None = setting(None, "tfjob: the TFJob's name (default: the last part of "
                                 "--output_dir); pods are named JOB-worker-0, ...")
  namespace: str = setting("default", "tfjob: the Kubernetes namespace.")
  evaluator: bool = setting(False, "tfjob: an Evaluator replica that evaluates each new "
                            "checkpoint (the trainers then run --schedule=train).")
  gpus_per_worker: int = setting(0, "tfjob: nvidia.com/gpu per chief, worker and evaluator "
                                 "pod (ps pods get none).", minimum=0)
  cpu: str = setting("", "tfjob: CPU request of every pod, e.g. 8 or 500m (empty: none).")
  memory: str = setting("", "tfjob: memory request of every pod, e.g. 32Gi (empty: none).")
  pvc: str | None = setting(None, "tfjob: a PersistentVolumeClaim (ReadWriteMany) mounted at "
                            "--mount_path in every pod; --output_dir must be under it "
                            "(or be a gs:// path, and then no claim is needed).")
  pvc_size: str = setting("", "tfjob: also write the claim --pvc itself, of this size (e.g. "
                          "100Gi); empty: the claim exists already.")
  storage_class: str | None = setting(None, "tfjob: the storage class of that claim "
                                      "(default: the cluster's).")
  mount_path: str = setting("/runs", "tfjob: where --pvc is mounted in the pods.")
  service_account: str | None = setting(None, "tfjob: the pods' Kubernetes service account "
                                        "(e.g. one with Workload Identity for gs://).")
  port: int = setting(tf_config.DEFAULT_PORT, "tfjob: the port TensorFlow's servers listen "
                      "on in every pod.", minimum=1, maximum=65535)
  manifest_dir: str = setting(".", "tfjob: where JOB.tfjob.yaml (and JOB.pvc.yaml) go.")
  replicas: int = setting(2, "serving: pods at least (the autoscaler's minimum).",
                          minimum=1)
  max_replicas: int = setting(8, "serving: pods at most (the autoscaler's maximum).",
                              minimum=1)
  target_cpu_percent: int = setting(70, "serving: the autoscaler adds pods above this "
                                    "average CPU use (% of --cpu).", minimum=1, maximum=100)
  grace_period_s: int = setting(60, "serving: seconds a pod has to drain after SIGTERM "
                                "(terminationGracePeriodSeconds); at least t2t-serve's "
                                "--request_timeout_s + 10.", minimum=1)
  tf_serving_image: str = setting("tensorflow/serving", "serving, SavedModel: TensorFlow "
                                  "Serving's image (pin a release, e.g. "
                                  "tensorflow/serving:2.19.0).")
  tpu_name: str | None = setting(None, "tpu_vm: the TPU VM slice's name.")
  zone: str | None = setting(None, "tpu_vm: its zone, e.g. us-central2-b.")
  project: str | None = setting(None, "tpu_vm: its Google Cloud project (default: "
                                "gcloud's).")
  tpu_hosts: int = setting(1, "tpu_vm: hosts of the slice (1: --tpu=local; more: a pod "
                           "slice, reached by its name).", minimum=1)
  tpu_setup: str = setting("", "tpu_vm: a shell command every host runs first, e.g. "
                           "'pip install t2t-lite'.")


# A TFJob restarts replicas that were killed or preempted (Kubeflow's recommended policy).
common_flags.define_flags(LaunchOptions, defaults={"restart_policy": "exit_code"})
common_flags.define_gin_flags()  # t2t-launch's own (Launch.*); the trainer's go after --


def parse_trainer_flags(args):
  """The trainer command line checked as t2t-trainer checks it: its flags, gin, registry
  names, hparams and option ranges. Returns (flag values, names, RunOptions,
  TrainerOptions)."""
  values = flags.FlagValues()
  trainer_flags.define(values)
  try:
    values(["t2t-trainer", *args])
  except flags.Error as e:
    raise UserError(f"t2t-trainer flags after --: {e}") from None
  names = common_flags.load_registrations_and_gin(*trainer_flags.GIN_GROUPS,
                                                  flag_values=values)
  run_options, trainer_options = RunOptions.from_config(), TrainerOptions.from_config()
  common_flags.require(names, "problem", "model", "hparams_set", "output_dir",
                       flag_values=values)
  experiment.resolve(names.problem, names.model, names.hparams_set, values.hparams)
  return values, names, run_options, trainer_options


def _job_name(settings, output_dir):
  name = settings.job_name or re.sub(r"[^a-z0-9-]+", "-",
                                     os.path.basename(output_dir.rstrip("/")).lower()).strip("-")
  if not _DNS_1035.match(name or ""):
    raise UserError(f"--job_name={name!r}: a TFJob's name is lowercase letters, digits and "
                    "'-', starting with a letter (DNS-1035); pass --job_name")
  return name


def _check_shape(settings, strategy):
  given = {n for n in ("num_workers", "num_ps", "chief") if FLAGS[n].present}
  allowed = {cluster.MULTI_WORKER: {"num_workers", "chief"},
             cluster.PARAMETER_SERVER: {"num_workers", "num_ps"}}.get(strategy, set())
  extra = sorted(given - allowed)
  if extra:
    raise UserError(f"--{extra[0]} does not apply to --strategy={strategy} (the trainer's): "
                    "multi_worker_mirrored takes --num_workers and --chief, "
                    "parameter_server --num_workers and --num_ps")


def _check_shared(flag, path, settings, need):
  """`path` (--flag) must be where every pod finds it: gs://, or under --mount_path with a
  --pvc mounted there; `need` says what the pods do with it and how to provide it."""
  if path.startswith("gs://"):
    return
  if not settings.pvc:
    raise UserError(f"--{flag}={path}: every pod must {need} with --pvc and put it under "
                    "--mount_path")
  if not path.startswith(settings.mount_path.rstrip("/") + "/"):
    raise UserError(f"--{flag}={path} is not under --mount_path={settings.mount_path}, "
                    f"where --pvc={settings.pvc} is mounted")


def _check_storage(settings, values):
  """output_dir must be storage every pod shares; an explicit data_dir a path every pod
  has (in the image, on the claim, or gs://)."""
  data_dir = values.data_dir
  _check_shared("output_dir", values.output_dir, settings,
                "reach it; use a gs:// path, or mount a shared claim")
  if data_dir and not (data_dir.startswith("gs://") or os.path.isabs(data_dir)):
    raise UserError(f"--data_dir={data_dir}: give an absolute path (in the image or on the "
                    "claim) or a gs:// path; a relative one depends on the pod's directory")


def _check_quantities(settings):
  for flag in ("cpu", "memory", "pvc_size"):
    value = getattr(settings, flag)
    if value and not _QUANTITY.match(value):
      raise UserError(f"--{flag}={value!r} is not a Kubernetes quantity (e.g. 8, 500m, 32Gi)")


def launch_tfjob(settings, trainer_args, values, run_options):
  strategy = run_options.strategy
  if strategy == "tpu":
    raise UserError("--strategy=tpu runs on a Cloud TPU: use --target=tpu_vm")
  if not settings.image:
    raise UserError("--target=tfjob needs --image (a container image with t2t_lite)")
  if settings.evaluator and run_options.schedule != "train":
    raise UserError("--evaluator evaluates every checkpoint: give the trainers "
                    f"--schedule=train (not {run_options.schedule}) after --")
  if settings.pvc_size and not settings.pvc:
    raise UserError("--pvc_size creates the claim --pvc: name it with --pvc")
  _check_shape(settings, strategy)
  _check_storage(settings, values)
  _check_quantities(settings)
  name = _job_name(settings, values.output_dir)
  counts = tfjob.replica_counts(strategy, settings.num_workers, settings.num_ps,
                                settings.chief, settings.evaluator)
  longest = max((f"{name}-{t.lower()}-{n - 1}" for t, n in counts.items()), key=len)
  if len(longest) > 63:
    raise UserError(f"--job_name={name}: pod and service names like {longest} must be at most "
                    "63 characters; pass a shorter --job_name")
  job = tfjob.manifest(
      name, settings.namespace, settings.image, trainer_args, counts,
      restart_policy=settings.restart_policy, backoff_limit=settings.backoff_limit,
      resources=tfjob.Resources(settings.gpus_per_worker, settings.cpu, settings.memory),
      storage=tfjob.Storage(settings.pvc, settings.mount_path),
      service_account=settings.service_account, port=settings.port)
  os.makedirs(settings.manifest_dir, exist_ok=True)
  files = []
  if settings.pvc_size:
    files.append(_write(settings.manifest_dir, f"{name}.pvc.yaml", tfjob.claim_manifest(
        settings.pvc, settings.namespace, settings.pvc_size, settings.storage_class)))
  files.append(_write(settings.manifest_dir, f"{name}.tfjob.yaml", job))
  print(f"wrote {', '.join(files)}: TFJob {name} with " +
        ", ".join(f"{n} {t}" for t, n in counts.items()))
  for replica_type in counts:
    config = tf_config.tf_config(name, settings.namespace, counts, replica_type, 0,
                                 {t: settings.port for t in counts})
    print(f"TF_CONFIG of {name}-{replica_type.lower()}-0: {config or '(none: one pod)'}")
  print("kubectl apply " + " ".join(f"-f {f}" for f in files))
  first = "chief" if "Chief" in counts else "worker"
  print(f"kubectl -n {settings.namespace} logs -f {name}-{first}-0")


def _write(directory, filename, document):
  """Writes one manifest (a dict) or several (a list) atomically."""
  path = os.path.join(directory, filename)
  tmp = path + ".tmp"
  with open(tmp, "w") as f:
    f.write(yaml_text.dump_all(document) if isinstance(document, list)
            else yaml_text.dump(document))
  os.replace(tmp, path)
  return path


def launch_tpu_vm(settings, trainer_args, values, run_options):
  if run_options.strategy not in ("default", "tpu"):
    raise UserError(f"--target=tpu_vm runs --strategy=tpu; the trainer flags say "
                    f"--strategy={run_options.strategy}")
  if not settings.tpu_name or not settings.zone:
    raise UserError("--target=tpu_vm needs --tpu_name and --zone")
  for flag in ("output_dir", "data_dir"):
    path = values[flag].value
    if path and not path.startswith("gs://"):
      raise UserError(f"--{flag}={path}: every TPU host reads and writes it; use a gs:// "
                      "path")
  args = list(trainer_args)
  if run_options.strategy != "tpu":
    args.append("--strategy=tpu")
  if not run_options.tpu:
    args.append(f"--tpu={tpu_vm.tpu_flag(settings.tpu_name, settings.tpu_hosts)}")
  local = list(values.gin_file) + ([values.t2t_usr_dir] if values.t2t_usr_dir else [])
  for line in tpu_vm.commands(settings.tpu_name, settings.zone, settings.project, args,
                              local, settings.tpu_setup):
    print(line)


def parse_serve_flags(args):
  """The t2t-serve command line checked as t2t-serve checks it; its ServeOptions."""
  values = flags.FlagValues()
  common_flags.define_flags(ServeOptions, flag_values=values)
  try:
    values(["t2t-serve", *args])
  except flags.Error as e:
    raise UserError(f"t2t-serve flags after --: {e}") from None
  for flag in ("host", "port"):
    if values[flag].present:
      raise UserError(f"--{flag} after --: the pods listen on 0.0.0.0:{serving.SERVE_PORT}, "
                      "which the manifests' probes and Service use; leave it out")
  settings = ServeOptions.from_flags(values)
  settings.check()
  return settings


def _serving_name(settings, export_dir):
  """--job_name, else the export's run (runs/enxx/export/1000 -> enxx)."""
  parts = [p for p in export_dir.rstrip("/").split("/") if p and not p.isdigit()]
  default = parts[-2] if len(parts) > 1 and parts[-1] == "export" else (parts or [""])[-1]
  return _job_name(settings, "/" + default)


def launch_serving(settings, serve_args):
  if not settings.image:
    raise UserError("--target=serving needs --image (a container image with t2t_lite "
                    "installed with its [serve] extra)")
  if settings.max_replicas < settings.replicas:
    raise UserError(f"--max_replicas={settings.max_replicas} is below --replicas="
                    f"{settings.replicas}")
  serve = parse_serve_flags(serve_args)
  export_dir = serve.export_dir
  _check_shared("export_dir", export_dir, settings,
                "read it; use a gs:// path, or mount the claim holding it")
  if settings.grace_period_s < serve.request_timeout_s:
    raise UserError(f"--grace_period_s={settings.grace_period_s} is shorter than t2t-serve's "
                    f"--request_timeout_s={serve.request_timeout_s:g}: a pod could be killed "
                    "with requests still being answered")
  _check_quantities(settings)
  name = _serving_name(settings, export_dir)
  pod = serving.Pod(settings.namespace, tfjob.Resources(settings.gpus_per_worker,
                                                        settings.cpu, settings.memory),
                    tfjob.Storage(settings.pvc, settings.mount_path),
                    settings.service_account, settings.grace_period_s)
  scaling = serving.Scaling(settings.replicas, settings.max_replicas,
                            settings.target_cpu_percent)
  os.makedirs(settings.manifest_dir, exist_ok=True)
  files = [_write(settings.manifest_dir, f"{name}.serve.yaml", serving.t2t_serve(
      name, settings.image, serve_args, pod, scaling))]
  if serve.engine == "saved_model":
    base, version = os.path.split(export_dir.rstrip("/"))
    if not version.isdigit():
      raise UserError(f"--export_dir={export_dir}: TensorFlow Serving and KServe load "
                      "BASE/VERSION/ (a numbered folder, as t2t-exporter's default "
                      "OUTPUT_DIR/export/STEP); export into a numbered folder")
    files.append(_write(settings.manifest_dir, f"{name}.tf-serving.yaml", serving.tf_serving(
        f"{name}-tf-serving", settings.tf_serving_image, name, base, pod, settings.replicas)))
    files.append(_write(settings.manifest_dir, f"{name}.kserve.yaml", [serving.kserve(
        f"{name}-kserve", serving.storage_uri(base, pod.storage), pod, scaling)]))
  print(f"wrote {', '.join(files)}: t2t-serve {name} ({settings.replicas}-"
        f"{settings.max_replicas} pods)" +
        (f", TensorFlow Serving {name}-tf-serving (model {name}, base path {base}) and "
         f"KServe {name}-kserve" if serve.engine == "saved_model" else ""))
  for f in files:
    print(f"kubectl apply -f {f}")
  print(f"kubectl -n {settings.namespace} port-forward service/{name} "
        f"{serving.SERVE_PORT}:{serving.SERVE_PORT}")


def configuration():
  """LaunchOptions from the flags and gin (Launch.*)."""
  common_flags.parse_gin(LaunchOptions)
  return LaunchOptions.from_config()


def main(argv):
  settings = configuration()
  if settings.target == "serving":
    if len(argv) < 2:
      raise UserError("give the t2t-serve flags after --, e.g. t2t-launch --target=serving "
                      "--image=IMAGE --pvc=CLAIM -- --export_dir=/runs/enxx/export/1000")
    launch_serving(settings, argv[1:])
    return
  trainer_args = argv[1:]
  if not trainer_args:
    raise UserError("give the t2t-trainer flags after --, e.g. t2t-launch --image=IMAGE -- "
                    "--strategy=multi_worker_mirrored --problem=... --output_dir=...")
  values, _, run_options, _ = parse_trainer_flags(trainer_args)
  if settings.target == "tfjob":
    launch_tfjob(settings, trainer_args, values, run_options)
  else:
    launch_tpu_vm(settings, trainer_args, values, run_options)


def run():
  common_flags.run_main(main, "t2t-launch")


if __name__ == "__main__":
  run()
