"""The registered names the reference lists, with each one's summary."""
from t2t_lite import registry
from t2t_lite.reference import names


def test_registered_names_and_summaries():
  listed = dict(names.registered())
  assert [t for t, _ in names.registered()] == [t for t, _ in names.REGISTRIES]
  problems = dict(listed["Problems"])
  assert "algorithmic_reverse_decimal40" in problems
  assert dict(listed["Models"])["transformer"] == names.summary(registry.model("transformer"))
  only = names.registered({"Models": {"transformer"}})
  assert dict(only)["Models"] == [("transformer", names.summary(registry.model("transformer")))]
  assert dict(only)["Problems"] == []
  assert set(names.snapshot()["Models"]) == set(registry.models.names())


def test_summary_is_the_first_paragraph():
  def documented():
    """First line
    goes on.

    Not this."""
  assert names.summary(documented) == "First line goes on."
  assert names.summary(lambda: None) == ""


def test_metric_names():
  listed = names.metric_names()
  assert ("accuracy", "teacher-forced (eval_metrics)", "higher") in listed
  decoded = {n: better for n, kind, better in listed if kind.startswith("decoded text")}
  assert decoded["bleu"] == "higher"
  assert ("wer", "teacher-forced (eval_metrics)", "lower") in listed
