"""t2t-launch: the manifests and commands that run a t2t-trainer command on a real cluster
(Kubernetes with Kubeflow's TFJob, or every host of a Cloud TPU VM slice)."""
