"""Data: encoders, problems' base class, TFRecord writing and the tf.data input pipeline."""
