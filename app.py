"""Veredicto: decide whether a fine-tuned text classifier is fit to deploy.

Run with `veredicto app` (or `streamlit run app.py`). The sidebar picks checkpoints and data;
each page under pages/ is registered here with st.Page.
"""

import os
from pathlib import Path

import streamlit as st

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from dashboard.state import PAGES, sidebar

HERE = Path(__file__).parent

st.set_page_config(page_title="Veredicto", page_icon=":material/gavel:", layout="wide")
pages = [st.Page(f"pages/{file}", title=title, icon=icon, default=(file == "overview.py")) for file, title, icon in PAGES if (HERE / "pages" / file).is_file()]
page = st.navigation(pages)
sidebar()
page.run()
