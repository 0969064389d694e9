"""Streamlit glue shared by app.py and pages/: the sidebar, cached loaders and the current selection.

May import every computing package (models, evaldata, analysis, explain, store, …); holds no
computation of its own, only caching and widgets. Pages import from here, never the reverse.
"""
