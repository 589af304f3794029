"""Metaflow's names and module paths, mapped onto flowstone's: the ``metaflow`` import hook of
``flowstone exec``. The core keeps flowstone's own names; nothing below this package imports it."""
