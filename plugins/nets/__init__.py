"""Network building blocks shared by several built-in plugins.

- :mod:`plugins.nets.resunet`: the residual U-Net used by ``denoise`` (with a noise-level map)
  and by the four weather plugins (``derain``, ``dehaze``, ``desnow``, ``all-weather``).
- :mod:`plugins.nets.receptive`: receptive-field measurement by autograd (tests, speed probe).

Plugin ``model.py`` files import these with absolute imports (``plugins.nets.resunet``), because
the plugin loader may import a ``model.py`` by file path rather than as a package member.
"""
