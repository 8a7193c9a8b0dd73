"""Security tests: the mesh access check (``@mesh``, guards, ``on_before_call``) under attack."""
