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
from t2t_lite.hparams.common_hparams import basic_params1


def add_audio_hparams(hp):
  hp.add_hparam("audio_num_mel_bins", 80)
  hp.add_hparam("audio_frame_length_ms", 25.0)
  hp.add_hparam("audio_frame_step_ms", 10.0)
  hp.add_hparam("audio_add_deltas", False)  # append deltas and delta-deltas (x3 features)
  hp.add_hparam("audio_spec_augment", False)  # SpecAugment masks, training only
  hp.add_hparam("audio_freq_masks", 2)
  hp.add_hparam("audio_freq_mask_width", 27)
  hp.add_hparam("audio_time_masks", 2)
  hp.add_hparam("audio_time_mask_width", 40)
  # utterance: each utterance's own mean/variance; global: the training set's (a stream
  # knows them from its first frame), measured from the data unless given here.
  # Training only: each utterance at one of these speeds (Kaldi's [0.9, 1.0, 1.1]).
  hp.add_hparam("audio_speed_perturbation", [], list)
  hp.add_hparam("audio_normalization", "utterance")
  hp.add_hparam("audio_global_mean", [], list)
  hp.add_hparam("audio_global_std", [], list)
  return hp


@registry.register_hparams
def deep_speech2_base():
  hp = add_audio_hparams(basic_params1())
  hp.batch_size = 16 * 400
  hp.max_length = 3500  # 35 s: every LibriSpeech utterance
  hp.min_length_bucket = 100
  hp.length_bucket_step = 1.2
  hp.label_smoothing = 0.0  # CTC has none
  hp.initializer = "uniform_unit_scaling"
  hp.initializer_gain = 1.0
  hp.optimizer_adam_beta1 = 0.9
  hp.optimizer_adam_beta2 = 0.999
  hp.optimizer_adam_epsilon = 1e-8
  hp.clip_grad_norm = 5.0
  hp.learning_rate_schedule = "constant*linear_warmup*rsqrt_normalized_decay"
  hp.learning_rate_constant = 5e-4
  hp.learning_rate_warmup_steps = 1000
  hp.hidden_size = 256
  hp.num_hidden_layers = 3
  hp.add_hparam("conv_filters", [32, 32])
  hp.add_hparam("conv_time_kernels", [11, 11])
  hp.add_hparam("conv_freq_kernels", [41, 21])
  hp.add_hparam("conv_time_strides", [2, 1])
  hp.add_hparam("conv_freq_strides", [2, 2])
  hp.add_hparam("relu_clip", 20.0)
  hp.add_hparam("num_rnn_layers", 3)
  hp.add_hparam("rnn_hidden_size", 256)
  hp.add_hparam("rnn_norm", "none")  # batch, layer or none (on each GRU's input)
  hp.add_hparam("rnn_dropout", 0.0)
  hp.add_hparam("rnn_bidirectional", True)
  hp.add_hparam("conv_causal", False)
  hp.add_hparam("lookahead_frames", 0)
  hp.add_hparam("kernels", "auto")  # cudnn on a GPU replica, the hoisted ones on a CPU
  return hp


@registry.register_hparams
def deep_speech2_large():
  hp = deep_speech2_base()
  hp.conv_filters = [32, 32, 96]
  hp.conv_time_kernels = [11, 11, 11]
  hp.conv_freq_kernels = [41, 21, 21]
  hp.conv_time_strides = [2, 1, 1]
  hp.conv_freq_strides = [2, 2, 2]
  hp.num_rnn_layers = 7
  hp.rnn_hidden_size = 976  # 115.3M parameters with the 30-symbol character vocabulary
  hp.rnn_norm = "batch"
  hp.rnn_dropout = 0.1
  hp.audio_spec_augment = True
  hp.learning_rate_constant = 3e-4
  return hp


@registry.register_hparams
def deep_speech2_tiny():
  """For tests: trains on short synthetic utterances in a minute on 2 CPU cores."""
  hp = deep_speech2_base()
  hp.audio_num_mel_bins = 40
  hp.batch_size = 2000
  hp.max_length = 1000
  hp.min_length_bucket = 20
  hp.conv_filters = [8]
  hp.conv_time_kernels = [5]
  hp.conv_freq_kernels = [9]
  hp.conv_time_strides = [2]
  hp.conv_freq_strides = [2]
  hp.num_rnn_layers = 1
  hp.rnn_hidden_size = 64
  hp.rnn_norm = "batch"
  hp.learning_rate_constant = 3e-3
  hp.learning_rate_warmup_steps = 50
  return hp


def _streaming(hp):
  """A model that transcribes while audio streams in (see the module docstring)."""
  hp.rnn_bidirectional = False
  hp.conv_causal = True
  hp.audio_normalization = "global"
  return hp


@registry.register_hparams
def deep_speech2_streaming():
  """deep_speech2_base's shape, streaming: unidirectional GRUs of 256 units (half the
  bidirectional ones' outputs), lookahead 10 frames (200 ms)."""
  hp = _streaming(deep_speech2_base())
  hp.lookahead_frames = 10
  return hp


@registry.register_hparams
def deep_speech2_streaming_tiny():
  """deep_speech2_tiny, streaming (tests): lookahead 4 frames (80 ms)."""
  hp = _streaming(deep_speech2_tiny())
  hp.lookahead_frames = 4
  return hp
