"""DeepSpeech2 hparams sets, and the audio front end's settings (audio_*).

deep_speech2_base has exactly the shape of the benchmark reference
(/work/shared/bench/tf_ds2.py, common.DS2["ds2"]): 80 log-mel bins, conv (11x41, stride
2x2, 32 filters) and conv (11x21, stride 1x2, 32 filters), each batch-normalized with a
ReLU clipped at 20, 3 bidirectional GRUs of 256 units without normalization between them,
a dense layer to 30 classes (the character vocabulary's 28 symbols + EOS + blank), and
batches of 16 x 400 frames. deep_speech2_large is sized like the ~115M-parameter
DeepSpeech2: 3 convolutions and 7 batch-normalized bidirectional GRUs of 976 units.
batch_size counts feature frames (10 ms each) per replica.

deep_speech2_streaming (and _tiny) are the paper's deployable variant: causal convolutions,
left-to-right GRUs and a lookahead convolution over 10 future frames (200 ms at the GRUs'
20 ms rate), with features normalized by the training set's global statistics, which a
stream knows from its first frame, instead of each utterance's own.
"""
from t2t_lite import registry
from t2t_lite.data.audio import AudioHParams
from t2t_lite.hparams.common_hparams import basic_params1
from t2t_lite.models.deep_speech2 import DeepSpeech2HParams


@registry.register_hparams
def deep_speech2_base():
  return basic_params1().with_groups(AudioHParams(), DeepSpeech2HParams()).replace(
      batch_size=16 * 400,
      max_length=3500,  # 35 s: every LibriSpeech utterance
      min_length_bucket=100,
      length_bucket_step=1.2,
      label_smoothing=0.0,  # CTC has none
      initializer="uniform_unit_scaling",
      initializer_gain=1.0,
      optimizer_adam_beta1=0.9,
      optimizer_adam_beta2=0.999,
      optimizer_adam_epsilon=1e-8,
      clip_grad_norm=5.0,
      learning_rate_schedule="constant*linear_warmup*rsqrt_normalized_decay",
      learning_rate_constant=5e-4,
      learning_rate_warmup_steps=1000,
      hidden_size=256,
      num_hidden_layers=3,
  )


@registry.register_hparams
def deep_speech2_few_hours():
  """Start here for a few hours of audio (about 1-20 h). deep_speech2_base's convolutions
  with 3 BiGRUs of 384 (8.0M parameters), batch-normalized GRU inputs, which let Adam take
  a 4x larger step (2e-3 after 200 warmup steps), and SortaGrad (the first epoch shortest
  first). Measured step by step on the 5.3 h espeak-ng corpus of
  bench/make_speech_corpus.py (bench/README.md, "The speech recipe"): at 600 steps its test
  CER greedy is 0.103, 0.53x base's (batch norm and the step: 0.60x; the wider GRUs: a
  tenth less again). SentencePiece units (256 pieces), a time stride of 3 and a cosine
  schedule were worse at this size."""
  return deep_speech2_base().replace(
      rnn_hidden_size=384,
      rnn_norm="batch",
      learning_rate_constant=2e-3,
      learning_rate_warmup_steps=200,
      sortagrad_epochs=1,
  )


@registry.register_hparams
def deep_speech2_hundreds_hours():
  """Tens to hundreds of hours (LibriSpeech's clean-100 to 960 h). deep_speech2_few_hours'
  reasoning at a scale these machines cannot measure: five batch-normalized BiGRUs of 512
  (21M parameters), SpecAugment with LibriSpeech's masks (the declared defaults: 2 x 27
  bins, 2 x 40 frames) and speed perturbation 0.9/1.0/1.1, regularizers that pay once
  every utterance is seen many times, and a longer warmup to a smaller peak (1e-3 over
  1,000 steps) for the deeper stack."""
  return deep_speech2_few_hours().replace(
      num_rnn_layers=5,
      rnn_hidden_size=512,
      audio_spec_augment=True,
      audio_speed_perturbation=[0.9, 1.0, 1.1],
      learning_rate_constant=1e-3,
      learning_rate_warmup_steps=1000,
  )


@registry.register_hparams
def deep_speech2_large():
  return deep_speech2_base().replace(
      conv_filters=[32, 32, 96],
      conv_time_kernels=[11, 11, 11],
      conv_freq_kernels=[41, 21, 21],
      conv_time_strides=[2, 1, 1],
      conv_freq_strides=[2, 2, 2],
      num_rnn_layers=7,
      rnn_hidden_size=976,  # 115.3M parameters with the 30-symbol character vocabulary
      rnn_norm="batch",
      rnn_dropout=0.1,
      audio_spec_augment=True,
      learning_rate_constant=3e-4,
  )


@registry.register_hparams
def deep_speech2_tiny():
  """For tests: trains on short synthetic utterances in a minute on 2 CPU cores."""
  return deep_speech2_base().replace(
      audio_num_mel_bins=40,
      batch_size=2000,
      max_length=1000,
      min_length_bucket=20,
      conv_filters=[8],
      conv_time_kernels=[5],
      conv_freq_kernels=[9],
      conv_time_strides=[2],
      conv_freq_strides=[2],
      num_rnn_layers=1,
      rnn_hidden_size=64,
      rnn_norm="batch",
      learning_rate_constant=3e-3,
      learning_rate_warmup_steps=50,
  )


# A model that transcribes while audio streams in (see the module docstring).
STREAMING = dict(rnn_bidirectional=False, conv_causal=True, audio_normalization="global")


@registry.register_hparams
def deep_speech2_streaming():
  """deep_speech2_base's shape, streaming: unidirectional GRUs of 256 units (half the
  bidirectional ones' outputs), lookahead 10 frames (200 ms)."""
  return deep_speech2_base().replace(**STREAMING, lookahead_frames=10)


@registry.register_hparams
def deep_speech2_streaming_tiny():
  """deep_speech2_tiny, streaming (tests): lookahead 4 frames (80 ms)."""
  return deep_speech2_tiny().replace(**STREAMING, lookahead_frames=4)
