"""SBC-4 disks served from sparse image files.

- :mod:`devemu.disk.device`: the :class:`~devemu.disk.device.Disk` logical unit;
- :mod:`devemu.disk.image`: the image file and its operations;
- :mod:`devemu.disk.config`: ``[[disk]]`` configuration tables;
- :mod:`devemu.disk.cli`: ``devemu disk create``.
"""
