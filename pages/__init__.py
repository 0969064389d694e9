"""The dashboard's pages, one Streamlit script each, registered by app.py with `st.Page("pages/<file>")`.

A package only so that `pip install .` ships these files beside app.py (Streamlit resolves a page's path relative
to the main script's folder); nothing imports it.
"""
