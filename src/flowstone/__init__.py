"""flowstone: Metaflow's API on a content-addressed, verified, fast datastore."""

__version__ = "0.1.0"
