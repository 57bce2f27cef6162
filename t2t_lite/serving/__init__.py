"""Exporting trained models as SavedModels that run without t2t_lite."""
