"""How a t2t-exporter SavedModel is called through TensorFlow Serving's Predict API.

TensorFlow Serving serves `<model_base_path>/<version>/` (t2t-exporter's default
OUTPUT_DIR/export/STEP) as model MODEL; its REST `:predict` names a signature and gives
its inputs by their signature names:

  POST /v1/models/MODEL:predict
  text:   {"signature_name": "serving_default", "inputs": {"inputs": ["a green garden"]}}
          -> {"outputs": {"outputs": ["..."], "scores": [-1.2]}}
  speech: {"signature_name": "serving_default",
           "inputs": {"wav": [{"b64": "<base64 of a 16 kHz 16-bit WAV file>"}]}}
          -> {"outputs": ["..."]}   (a single output is not wrapped in its name)

(the "columnar" format; the "instances" row format carries the same values, one
per row.) Strings are UTF-8 text in JSON; bytes that are not text go as {"b64": ...}.
Over gRPC the same request is a `tensorflow.serving.PredictRequest`: model_spec.name,
model_spec.signature_name, and one TensorProto per signature input (string tensors of
shape [batch]); `predict_request` builds it from the exported signature, checking the
input names and dtypes against it, and `predict` runs it through a loaded SavedModel in
this process, as TensorFlow Serving would, for tests and for checking an export before
deploying it."""
import base64

import tensorflow as tf

from t2t_lite.errors import UserError


def rest_body(signature_name, inputs):
  """The JSON body of REST :predict for {input name: list of values} (bytes as b64)."""
  def value(v):
    if isinstance(v, bytes):
      return {"b64": base64.b64encode(v).decode("ascii")}
    return v
  return {"signature_name": signature_name,
          "inputs": {name: [value(v) for v in values] for name, values in inputs.items()}}


def inputs_of_rest_body(body):
  """{input name: list of values} of a columnar REST body (b64 values decoded), as
  TensorFlow Serving reads it."""
  def value(v):
    return base64.b64decode(v["b64"]) if isinstance(v, dict) and set(v) == {"b64"} else v
  return {name: [value(v) for v in values] for name, values in body["inputs"].items()}


def predict_request(model_name, signature_name, signature, inputs):
  """A PredictRequest for `inputs` ({name: list of values}), checked against the
  concrete function `signature` of the exported SavedModel."""
  from tensorflow_serving.apis import predict_pb2  # optional: tensorflow-serving-api
  specs = signature.structured_input_signature[1]
  if set(inputs) != set(specs):
    raise UserError(f"signature {signature_name} takes inputs {sorted(specs)}, not "
                    f"{sorted(inputs)}")
  request = predict_pb2.PredictRequest()
  request.model_spec.name = model_name
  request.model_spec.signature_name = signature_name
  for name, values in inputs.items():
    request.inputs[name].CopyFrom(tf.make_tensor_proto(values, dtype=specs[name].dtype))
  return request


def predict(signature, request):
  """The PredictResponse TensorFlow Serving returns for `request` on `signature`."""
  from tensorflow_serving.apis import predict_pb2  # optional: tensorflow-serving-api
  specs = signature.structured_input_signature[1]
  arguments = {}
  for name, proto in request.inputs.items():
    if tf.as_dtype(proto.dtype) != specs[name].dtype:
      raise UserError(f"input {name} is {tf.as_dtype(proto.dtype).name}; signature "
                      f"{request.model_spec.signature_name} takes {specs[name].dtype.name}")
    arguments[name] = tf.constant(tf.make_ndarray(proto), dtype=specs[name].dtype)
  response = predict_pb2.PredictResponse()
  response.model_spec.CopyFrom(request.model_spec)
  for name, tensor in signature(**arguments).items():
    response.outputs[name].CopyFrom(tf.make_tensor_proto(tensor.numpy()))
  return response
