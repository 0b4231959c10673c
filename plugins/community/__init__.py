"""Community models: import ``.pth`` / ``.safetensors`` weights of known architectures as plugins.

The architectures come from ``spandrel`` (main package only, MIT; never
``spandrel_extra_arches``). Modules, one job each:

- :mod:`.spandrel_compat`: import spandrel robustly (torchvision stand-in when the real one fails);
- :mod:`.model_file`: read a model file with a restricted loader (no arbitrary pickles, no TorchScript);
- :mod:`.detect`: what spandrel detected, as a frozen :class:`~.detect.Detection`;
- :mod:`.measure`: receptive field and tiling policy measured at import;
- :mod:`.importer`: inspect a file, then write the plugin folder (manifest, safetensors, MODEL.md);
- :mod:`.runtime`: the ``Restorer`` that runs an imported plugin (used by its generated ``model.py``).
"""
