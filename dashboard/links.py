"""One link to the Explore page, used by every page that points at an example."""

from __future__ import annotations

import streamlit as st
from streamlit.errors import StreamlitPageNotFoundError

EXPLORE_PAGE = "pages/explore.py"


def explore_link(example: int, label: str, *, container=None, query: dict[str, str] | None = None) -> bool:
    """A link that opens example `example` on Explore (with extra `query` parameters); False when Explore is not part of this app.

    The app registers a page only when its file exists (dashboard.state.PAGES), so a trimmed-down app may have no
    Explore page: then Streamlit raises StreamlitPageNotFoundError and no link is drawn. Any other error surfaces.
    """
    target = container if container is not None else st
    try:
        target.page_link(EXPLORE_PAGE, label=label, icon=":material/search:", query_params={"example": str(example), **(query or {})})
    except StreamlitPageNotFoundError:
        return False
    return True
