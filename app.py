"""mlsd-coach in the browser: `make run` (or `streamlit run app.py`). Thin: pages live in ui/."""

from pathlib import Path

import streamlit as st

from ui import resources, sidebar, state
from ui.progress import apply_history_context

# A local icon file: a `:material/...:` page icon makes the browser fetch it from Google.
ICON = Path(__file__).resolve().parent / "ui" / "icon.png"
st.set_page_config(page_title="mlsd-coach", page_icon=str(ICON), layout="wide")
state.init_state()
apply_history_context()  # this tab's "save my history" toggle and logged-in user
resources.start_warmup()

page = st.navigation(
    [
        st.Page("ui/chat.py", title="Chat", icon=":material/chat:", default=True),
        st.Page("ui/critique.py", title="Critique", icon=":material/rate_review:"),
        st.Page("ui/interview.py", title="Mock interview", icon=":material/timer:"),
        st.Page("ui/progress.py", title="Progress", icon=":material/trending_up:"),
        st.Page("ui/review.py", title="Review", icon=":material/style:"),
        st.Page("ui/evaluate.py", title="Evaluate", icon=":material/analytics:"),
        st.Page("ui/library.py", title="Library", icon=":material/library_books:"),
    ]
)
sidebar.render()
page.run()
