"""Model files: torch-free config (``model_config``) and safetensors weights (``model_io``)."""
