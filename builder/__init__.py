"""TVQA → CrossOmni annotation release: readers, pipeline stages, export, the embedded sample."""

from model_calls.registry import register_backend

# The embedded sample's ground truth answering as a model (records the sample's replay file).
register_backend("scripted", "builder.sample.scripted:ScriptedBackend")
