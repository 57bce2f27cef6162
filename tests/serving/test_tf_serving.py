"""TensorFlow Serving's Predict API on a t2t-exporter-shaped SavedModel: the REST body (b64
for bytes) and the PredictRequest, checked against the signature and run as TensorFlow
Serving runs it."""
import pytest
import tensorflow as tf

from t2t_lite.errors import UserError
from t2t_lite.serving import tf_serving
from tests.serving import tiny_saved_model


def test_rest_body_round_trip():
  body = tf_serving.rest_body("serving_default", {"inputs": ["a b"], "wav": [b"\x00\xff"]})
  assert body == {"signature_name": "serving_default",
                  "inputs": {"inputs": ["a b"], "wav": [{"b64": "AP8="}]}}
  assert tf_serving.inputs_of_rest_body(body) == {"inputs": ["a b"], "wav": [b"\x00\xff"]}


def test_predict_request_and_response(tmp_path):
  pytest.importorskip("tensorflow_serving")
  signature = tf.saved_model.load(tiny_saved_model.text(tmp_path / "m")).signatures[
      "serving_default"]
  request = tf_serving.predict_request("m", "serving_default", signature,
                                       {"inputs": ["a b", "c"]})
  assert (request.model_spec.name, request.model_spec.signature_name) == ("m",
                                                                          "serving_default")
  response = tf_serving.predict(signature, request)
  assert tf.make_ndarray(response.outputs["outputs"]).tolist() == [b"A B", b"C"]
  assert tf.make_ndarray(response.outputs["scores"]).tolist() == [-3.0, -1.0]
  with pytest.raises(UserError, match=r"takes inputs \['inputs'\], not \['text'\]"):
    tf_serving.predict_request("m", "serving_default", signature, {"text": ["a"]})
  request.inputs["inputs"].CopyFrom(tf.make_tensor_proto([1.0]))
  with pytest.raises(UserError, match="input inputs is float32; signature serving_default "
                                      "takes string"):
    tf_serving.predict(signature, request)
