"""The page's look: its CSS, the example requests and quick replies, and every component, built panel by panel in
page order. build_layout runs inside gr.Blocks; the handlers and the event wiring reach the components through Page.
"""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from ..core.config import Settings

EXAMPLES = [
    "A funny science fiction film, nothing with horror",
    "A tense 90s crime thriller",
    "Something romantic from before 1970",
    "An animated film for the whole family",
]
FOLLOW_UPS = ["More like this", "Something lighter", "Older"]  # quick replies shown after an answer
CSS = """
.rec-card {border: 1px solid var(--border-color-primary); border-radius: 10px; padding: 10px 12px;
           background: var(--block-background-fill); color: var(--body-text-color);}
.rec-card h3 {margin: 0 0 4px 0; font-size: 1.05em;}
.rec-meta {color: var(--body-text-color-subdued); font-size: .9em;}
.rec-desc {margin-top: 4px; font-size: .92em;}
.rec-reason {margin-top: 6px; font-style: italic;}
.rec-state {font-size: .9em;}
.rec-slot:not(:has(.rec-card)) {display: none !important;}  /* an empty card slot takes no space */
#chat .thought td:not(:nth-child(2)), #chat .thought th {white-space: nowrap;}  /* scores stay on one line */
.chips {flex-wrap: wrap; gap: 6px;}
.chips button {flex: 0 1 auto !important; min-width: 0 !important;}
button:focus-visible, input:focus-visible, textarea:focus-visible {outline: 2px solid var(--color-accent);
                                                                   outline-offset: 2px;}
@media (max-width: 720px) {  /* phones: the chat first, then the cards, then sessions and controls */
  .main-row {flex-direction: column;}
  #chat-col {order: 1;} #cards-col {order: 2;} #side-col {order: 3;}
  #chat {height: 60vh !important;}
}
"""


@dataclass(eq=False)
class Page:
    """Every component a handler reads or updates; the card slots number Settings.max_count, one per possible pick."""

    # values kept per browser tab
    ids: gr.BrowserState  # [user_id, session_id], survives reloads
    shown: gr.State  # item ids of the cards on screen, in order
    pending: gr.Textbox  # the message being answered (hidden: the browser's echo hands it to turn)
    api_send: gr.Button  # the trigger /send hangs on; the page itself chains the browser's echo and the turn
    card_state: gr.State  # the card slots' HTML as last sent, to send again unchanged
    answers: gr.State  # chatbot message index (as str) -> item ids of that answer, for the Chatbot's 👍/👎
    # conversations panel
    new_btn: gr.Button
    sessions: gr.Radio
    title_box: gr.Textbox
    rename_btn: gr.Button
    delete_btn: gr.Button
    md_btn: gr.Button
    json_btn: gr.Button
    md_dl: gr.DownloadButton
    json_dl: gr.DownloadButton
    forget_btn: gr.Button
    forget_box: gr.Group
    forget_yes: gr.Button
    forget_no: gr.Button
    # controls panel
    count_sl: gr.Slider
    lam_sl: gr.Slider
    ymin: gr.Number
    ymax: gr.Number
    gex: gr.Dropdown
    # taste panel
    taste_md: gr.Markdown
    taste_votes: gr.CheckboxGroup
    unvote_btn: gr.Button
    # chat column
    chatbot: gr.Chatbot
    box: gr.Textbox
    send_btn: gr.Button
    chips: list[gr.Button]
    follow_row: gr.Row
    follows: list[gr.Button]
    # cards column
    state_md: gr.Markdown
    status: gr.Markdown
    htmls: list[gr.HTML]  # a slot shows or hides with its card (CSS), so updates never touch its Column
    likes: list[gr.Button]
    dislikes: list[gr.Button]

    @property
    def slots(self) -> int:
        """How many cards the page can show at once."""
        return len(self.htmls)

    @property
    def control_outputs(self) -> list:
        """The controls that mirror the session's dialogue state."""
        return [self.count_sl, self.lam_sl, self.ymin, self.ymax, self.gex]

    @property
    def switches(self) -> list:
        """Everything that opens another conversation."""
        return [self.new_btn, self.sessions, self.delete_btn, self.forget_btn, self.forget_yes]

    @property
    def page_outputs(self) -> list:
        """What a whole-page update may change, each component once (the API result keeps this order)."""
        return list(
            dict.fromkeys(
                [
                    self.box,
                    self.ids,
                    self.chatbot,
                    self.answers,
                    self.shown,
                    self.state_md,
                    self.status,
                    self.sessions,
                    self.title_box,
                    self.md_dl,
                    self.json_dl,
                    self.taste_md,
                    self.taste_votes,
                    self.follow_row,
                    self.send_btn,
                    *self.chips,
                    *self.control_outputs,
                    *self.htmls,
                    self.card_state,
                    *self.switches,
                ]
            )
        )

    @property
    def send_outputs(self) -> list:
        """What a turn streams into: as few outputs as it needs (Gradio rebuilds every output an update leaves out,
        on every streamed chunk); the side panels follow in one chained update."""
        return [self.chatbot, self.answers, self.shown, self.state_md, self.follow_row, *self.htmls, self.card_state]

    @property
    def side_outputs(self) -> list:
        """The side panels: session list, title, downloads, taste, constraints and controls."""
        return [
            self.sessions,
            self.title_box,
            self.md_dl,
            self.json_dl,
            self.taste_md,
            self.taste_votes,
            self.state_md,
            *self.control_outputs,
        ]


def build_layout(settings: Settings, genres: list[str]) -> Page:
    """Every component in page order: sessions, controls and taste; the chat; the cards (call inside gr.Blocks)."""
    parts = tab_values(settings.max_count)
    gr.Markdown("## 🎬 What are you in the mood for?\nSay it in your own words; 👍 / 👎 the cards to teach me.")
    with gr.Row(equal_height=False, elem_classes="main-row"):
        with gr.Column(scale=1, min_width=240, elem_id="side-col"):
            parts.update(sessions_panel())
            parts.update(controls_panel(settings, genres))
            parts.update(taste_panel())
        with gr.Column(scale=3, min_width=320, elem_id="chat-col"):
            parts.update(chat_column(settings))
        with gr.Column(scale=2, min_width=280, elem_id="cards-col"):
            parts.update(cards_column(settings.max_count))
    return Page(**parts)


def tab_values(slots: int) -> dict:
    """The values each browser tab keeps between events, and the hidden trigger of the /send endpoint."""
    return {
        "ids": gr.BrowserState(["", ""], storage_key="recsys-ids"),
        "shown": gr.State([]),
        "pending": gr.Textbox(visible=False, elem_id="pending"),  # the browser writes it (events.echo_js)
        "api_send": gr.Button(visible=False),
        "card_state": gr.State([""] * slots),
        "answers": gr.State({}),
    }


def sessions_panel() -> dict:
    """Conversations: new, the list, title, rename, delete, exports, and "forget me" with its confirmation."""
    with gr.Accordion("Conversations", open=True, elem_id="sessions-panel"):
        parts = {
            "new_btn": gr.Button("➕ New conversation", size="sm", elem_id="new-btn"),
            "sessions": gr.Radio([], label="Your conversations", elem_id="sessions"),
            "title_box": gr.Textbox(label="Title of this conversation", max_lines=1, elem_id="title-box"),
        }
        with gr.Row():
            parts["rename_btn"] = gr.Button("Rename", size="sm", min_width=60, elem_id="rename-btn")
            parts["delete_btn"] = gr.Button("Delete", size="sm", min_width=60, variant="stop", elem_id="delete-btn")
        with gr.Row():  # the file is written only when asked for, then the hidden button fetches it
            parts["md_btn"] = gr.Button("⬇ Markdown", size="sm", min_width=60, elem_id="export-md")
            parts["json_btn"] = gr.Button("⬇ JSON", size="sm", min_width=60, elem_id="export-json")
            parts["md_dl"] = gr.DownloadButton("Markdown file", visible="hidden", elem_id="export-md-file")
            parts["json_dl"] = gr.DownloadButton("JSON file", visible="hidden", elem_id="export-json-file")
        parts["forget_btn"] = gr.Button("Forget me…", size="sm", elem_id="forget-btn")
        with gr.Group(visible=False) as forget_box:
            gr.Markdown("**Delete all your conversations, votes and taste?** This cannot be undone.")
            with gr.Row():
                parts["forget_yes"] = gr.Button(
                    "Yes, delete everything", variant="stop", size="sm", elem_id="forget-yes"
                )
                parts["forget_no"] = gr.Button("Cancel", size="sm", elem_id="forget-no")
    return {**parts, "forget_box": forget_box}


def controls_panel(settings: Settings, genres: list[str]) -> dict:
    """The controls a person may set instead of saying it: count, relevance vs variety, years, excluded genres."""
    with gr.Accordion("Controls", open=True, elem_id="controls-panel"):
        parts = {
            "count_sl": gr.Slider(
                1, settings.max_count, step=1, value=settings.count, label="Number of results", elem_id="count"
            ),
            "lam_sl": gr.Slider(
                0.0,
                1.0,
                step=0.05,
                value=settings.mmr_lambda,
                elem_id="diversity",
                label="Relevance vs variety (MMR λ: 1 = most relevant, lower = more varied)",
            ),
        }
        with gr.Row():
            parts["ymin"] = gr.Number(
                label="From year", precision=0, minimum=1800, maximum=2100, elem_id="year-min", min_width=80
            )
            parts["ymax"] = gr.Number(
                label="To year", precision=0, minimum=1800, maximum=2100, elem_id="year-max", min_width=80
            )
        parts["gex"] = gr.Dropdown(
            genres, value=[], multiselect=True, label="Genres to exclude", elem_id="genres-exclude"
        )
    return parts


def taste_panel() -> dict:
    """The person's taste and their votes, with a way to take votes back."""
    with gr.Accordion("Your taste", open=False, elem_id="taste-panel"):
        return {
            "taste_md": gr.Markdown(""),
            "taste_votes": gr.CheckboxGroup([], label="Your votes (tick to take one back)", elem_id="votes"),
            "unvote_btn": gr.Button("Take back ticked votes", size="sm", elem_id="unvote-btn"),
        }


def chat_column(settings: Settings) -> dict:
    """The conversation, the message box with Send, the example chips and the quick replies."""
    chatbot = gr.Chatbot(
        label="Conversation",
        height=560,
        elem_id="chat",
        buttons=["copy", "copy_all"],
        placeholder="Try one of the examples below, or type your own request.",
    )
    with gr.Row():
        box = gr.Textbox(
            label="Your message",
            placeholder="e.g. a funny sci-fi film, nothing scary",
            scale=5,
            max_lines=4,
            elem_id="msg",
            interactive=False,
            max_length=settings.max_message_chars,
        )
        send_btn = gr.Button("Send", variant="primary", scale=1, min_width=80, interactive=False)
    with gr.Row(elem_classes="chips"):
        # disabled until the page's session is open, so an early click never goes to no session
        chips = [gr.Button(text, size="sm", elem_classes="chip", interactive=False) for text in EXAMPLES]
    with gr.Row(visible=False, elem_classes="chips") as follow_row:
        follows = [gr.Button(text, size="sm", elem_classes="chip follow") for text in FOLLOW_UPS]
    return {
        "chatbot": chatbot,
        "box": box,
        "send_btn": send_btn,
        "chips": chips,
        "follow_row": follow_row,
        "follows": follows,
    }


def cards_column(slots: int) -> dict:
    """The active constraints, a status line, and the card slots, each with its 👍/👎."""
    parts: dict = {
        "state_md": gr.Markdown("", elem_classes="rec-state", label="Active constraints"),
        "status": gr.Markdown("", elem_id="status"),
        "htmls": [],
        "likes": [],
        "dislikes": [],
    }
    for i in range(slots):
        with gr.Column(elem_classes="rec-slot"):  # hidden by CSS while it holds no card
            parts["htmls"].append(gr.HTML(""))
            with gr.Row():
                parts["likes"].append(gr.Button("👍 Like", size="sm", min_width=40, elem_id=f"like-{i}"))
                parts["dislikes"].append(gr.Button("👎 Dislike", size="sm", min_width=40, elem_id=f"dislike-{i}"))
    return parts
