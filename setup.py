"""t2t-lite: a Tensor2Tensor-style sequence-modeling framework on TensorFlow 2.

Only one import name is installed, `t2t_lite`. The top-level folders problems/, models/,
hparams/ and bin/ are mapped into it so that generic names never land in site-packages.
"""
import re

from setuptools import setup

# One version, t2t_lite.__version__ (read as text: importing t2t_lite needs its dependencies).
with open("t2t_lite/__init__.py", encoding="utf-8") as init:
  VERSION = re.search(r'__version__ = "([^"]+)"', init.read()).group(1)

SUBPACKAGES = ["problems", "models", "hparams", "bin"]
SERVE = ["starlette>=0.40", "uvicorn>=0.30", "uvloop", "httptools", "prometheus-client>=0.20",
         "tensorflow-serving-api>=2.21,<2.22"]

setup(
    name="t2t-lite",
    version=VERSION,
    description="Tensor2Tensor-style research framework for sequence modeling on TensorFlow 2",
    python_requires=">=3.11",  # tomllib (t2t-sweep's sweep files)
    packages=["t2t_lite", "t2t_lite.data", "t2t_lite.layers", "t2t_lite.training",
              "t2t_lite.decoding", "t2t_lite.serving", "t2t_lite.sweep",
              "t2t_lite.kernels", "t2t_lite.launch", "t2t_lite.ops", "t2t_lite.reference"] +
             [f"t2t_lite.{p}" for p in SUBPACKAGES],
    package_dir={"t2t_lite": "t2t_lite", **{f"t2t_lite.{p}": p for p in SUBPACKAGES}},
    # The custom ops' C++ sources, compiled on first use (t2t_lite/ops/build.py).
    package_data={"t2t_lite.ops": ["*.cc"]},
    install_requires=[
        "tensorflow==2.21.0",
        "tensorflow-datasets",
        "sentencepiece",
        "absl-py",
        "gin-config",
        "tensorboard",  # tf.summary writes through it; TF no longer pulls it in
        # In-graph sentencepiece for exported models (the standard TF text ops); 2.21.0's
        # wheel fails to import (missing ICU symbol), 2.21.1 works with TF 2.21.0.
        "tensorflow-text>=2.21.1,<2.22",
        "sacrebleu",  # the field's standard, reportable BLEU (t2t-bleu, eval BLEU)
        "matplotlib",  # t2t-sweep's eval-curve plots: the field's standard plotting library
        # t2t-sweep's [search]: the field's standard hyperparameter search (TPE, CMA-ES,
        # median/successive-halving/Hyperband pruning, studies in a database that workers
        # on many machines share); 5.x for the heartbeat callback and PED-ANOVA importances.
        "optuna>=5.0,<6",
        "cmaes",  # Optuna's CMA-ES sampler (sampler = "cmaes")
    ],
    # jiwer: the reference WER/CER implementation the speech metrics are checked against;
    # ruff: the linter CI runs (configured in pyproject.toml).
    # kenlm: the field's standard n-gram LM queries, for speech decoding with a word LM
    # (t2t-decoder --decode_hparams=lm_path=...); compiled from source (~1 min, needs g++).
    # postgresql: the driver for a search's study on a PostgreSQL server (--storage=
    # postgresql+psycopg://...).
    # serve: CTranslate2, for t2t-exporter --export_format=ctranslate2 and
    # t2t-benchmark --decode_engine=ctranslate2 (a CPU wheel from PyPI); the export tests run it.
    # t2t-serve's HTTP stack: Starlette (the small ASGI toolkit FastAPI is built on) on
    # uvicorn (the reference ASGI server; with uvloop's event loop and httptools' HTTP
    # parser, which it picks up when installed: less time per request), prometheus-client
    # (Prometheus' own client) for /metrics; tensorflow-serving-api for TF Serving's
    # PredictRequest protos (2.21.x: its tensorflow requirement is the 2.21.0 pinned
    # above). The tests start t2t-serve, so the test extra has them too.
    # profile: tensorboard-plugin-profile, TensorBoard's Profile tab (t2t-trainer --profile_steps).
    # jsonschema and pyyaml: the TFJob manifests t2t-launch writes are read back and checked
    # against the CRD's schema. pytest-xdist: the suite runs in two processes, a test module
    # per process (CI's two cores; most tests are single-threaded TensorFlow start-up and
    # tiny models).
    extras_require={"test": ["pytest", "pytest-xdist", "jiwer", "ruff", "import-linter",
                             "psycopg[binary]", "ctranslate2>=4.5", "jsonschema", "pyyaml", *SERVE],
                    "speech": ["kenlm"], "postgresql": ["psycopg[binary]"],
                    "serve": ["ctranslate2>=4.5", *SERVE],
                    "profile": ["tensorboard-plugin-profile"],
                    # The documentation site (mkdocs.yml): MkDocs with the Material theme, and
                    # mkdocstrings for the API pages of the public contracts.
                    "docs": ["mkdocs>=1.6,<2", "mkdocs-material>=9.5",
                             "mkdocstrings[python]>=0.26"]},
    entry_points={
        "console_scripts": [
            "t2t-datagen=t2t_lite.bin.t2t_datagen:run",
            "t2t-trainer=t2t_lite.bin.t2t_trainer:run",
            "t2t-decoder=t2t_lite.bin.t2t_decoder:run",
            "t2t-benchmark=t2t_lite.bin.t2t_benchmark:run",
            "t2t-bleu=t2t_lite.bin.t2t_bleu:run",
            "t2t-exporter=t2t_lite.bin.t2t_exporter:run",
            "t2t-avg-checkpoints=t2t_lite.bin.t2t_avg_checkpoints:run",
            "t2t-sweep=t2t_lite.bin.t2t_sweep:run",
            "t2t-local-cluster=t2t_lite.bin.t2t_local_cluster:run",
            "t2t-launch=t2t_lite.bin.t2t_launch:run",
            "t2t-serve=t2t_lite.bin.t2t_serve:run",
            "t2t-docs=t2t_lite.bin.t2t_docs:run",
        ],
    },
)
