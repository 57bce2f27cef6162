"""Manifests written as YAML read back as the same values, whatever the strings hold."""
import pytest
import yaml

from t2t_lite.launch import yaml_text


@pytest.mark.parametrize("value", [
    "plain", "yes", "No", "on", "null", "~", "123", "1e3", "0x1F", "-", "a: b", "#hash",
    "--hparams=a=1,b=2", "'quoted'", 'say "hi"', "multi\nline", "tab\there", "ünïcödé", "",
    " padded ", "*star", "&anchor", "!tag", "%pct", "@at", "`tick", "{x}", "[y]", "a,b",
    7, 0, -3, 2.5, True, False, None, [], {},
])
def test_scalars_read_back_unchanged(value):
  document = {"key": value, "list": [value], "nested": {"k": [{"x": value, "y": 1}]}}
  assert yaml.safe_load(yaml_text.dump(document)) == document


def test_block_layout_is_what_kubectl_users_read():
  text = yaml_text.dump({"spec": {"containers": [{"name": "tensorflow", "args": ["-a", "b"]}],
                                  "empty": []}})
  assert text == ("spec:\n"
                  "  containers:\n"
                  "  - name: tensorflow\n"
                  "    args:\n"
                  "    - \"-a\"\n"
                  "    - b\n"
                  "  empty: []\n")
