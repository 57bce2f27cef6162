"""t2t-serve's settings: what it serves, how it batches, and the limits it enforces."""
from t2t_lite import options
from t2t_lite.errors import UserError
from t2t_lite.options import setting

ENGINES = ("saved_model", "ctranslate2")


@options.group("Serve")
class ServeOptions(options.Options):
  export_dir: str | None = setting(
      None, "The export to serve: a SavedModel folder (t2t-exporter's EXPORT_DIR/STEP, text "
      "or speech) or a CTranslate2 folder (--export_format=ctranslate2, text).")
  engine: str = setting("saved_model", "saved_model: TensorFlow runs the SavedModel (its "
                        "search settings were fixed at export); ctranslate2: CTranslate2 "
                        "runs a CTranslate2 export.", choices=ENGINES)
  host: str = setting("127.0.0.1", "Address to listen on (0.0.0.0 in a container).")
  port: int = setting(8080, "Port to listen on.", minimum=1, maximum=65535)
  max_batch_size: int = setting(16, "Sentences (or utterances) decoded together at most; "
                                "1 turns dynamic batching off.", minimum=1)
  max_batch_tokens: int = setting(0, "Also cap a batch's total input length in tokens "
                                  "(speech: 10 ms frames); 0: no cap.", minimum=0)
  max_batch_delay_ms: float = setting(5.0, "How long the first request of a batch may "
                                      "wait for others to join it (only while requests "
                                      "arrive faster than one per this delay).", minimum=0)
  max_queue: int = setting(256, "Sentences waiting to be decoded at most; beyond it a "
                              "request is refused with HTTP 429 and Retry-After.", minimum=1)
  request_timeout_s: float = setting(30.0, "A request not answered within this many seconds "
                                     "gets HTTP 504.", above=0)
  max_request_chars: int = setting(10000, "Characters of text in one request at most "
                                   "(HTTP 413 beyond).", minimum=1)
  max_input_tokens: int = setting(256, "Tokens of one sentence at most (SavedModel text: "
                                  "whitespace-separated words; HTTP 413 beyond).", minimum=1)
  max_request_sentences: int = setting(64, "Sentences or audio files in one request at most "
                                       "(HTTP 413 beyond).", minimum=1)
  max_audio_seconds: float = setting(60.0, "Seconds of audio in one request at most (HTTP "
                                     "413 beyond).", above=0)
  max_body_bytes: int = setting(16 * 2 ** 20, "Bytes of one request body at most (HTTP 413 "
                                "beyond).", minimum=1)
  intra_threads: int = setting(0, "Threads one decode uses (CTranslate2's intra_threads, "
                               "TensorFlow's intra-op pool); 0: the usable cores.",
                               minimum=0)
  beam_size: int = setting(1, "CTranslate2: beam size (a SavedModel's was fixed at export); "
                           "also the most n_best a request may ask for.", minimum=1)
  length_penalty: float = setting(0.6, "CTranslate2: the length penalty exponent (alpha).",
                                  minimum=0)
  max_decoding_length: int = setting(256, "CTranslate2: output tokens at most.", minimum=1)

  def check(self):
    if not self.export_dir:
      raise UserError("missing --export_dir (the SavedModel or CTranslate2 folder to serve)")
    if self.max_batch_tokens and self.max_batch_tokens < self.max_input_tokens:
      raise UserError(f"--max_batch_tokens={self.max_batch_tokens} is below "
                      f"--max_input_tokens={self.max_input_tokens}: a sentence allowed in "
                      "could never be batched; raise it or lower --max_input_tokens")
    if self.max_request_sentences > self.max_queue:
      raise UserError(f"--max_request_sentences={self.max_request_sentences} exceeds "
                      f"--max_queue={self.max_queue}: such a request could never be queued")
