//! View-models of the account's security pages: the security history (with the reuse
//! explanation after signing in again) and "confirm it's you".

use crate::auth::HistoryEntry;
use crate::http::admin_views::When;
use crate::http::views::Chrome;
use askama::Template;

/// One row of the security history.
pub struct HistoryRow {
    /// When.
    pub at: When,
    /// "Signed in", …
    pub title: &'static str,
    /// The sentence.
    pub detail: String,
    /// Whether to highlight it.
    pub alarming: bool,
}

impl HistoryRow {
    /// From the domain value.
    pub fn new(e: HistoryEntry, now: i64) -> Self {
        Self {
            at: When::at(e.at, now),
            title: e.words.title,
            detail: e.words.detail,
            alarming: e.alarming,
        }
    }
}

/// `GET /account/security`.
#[derive(Template)]
#[template(path = "security.html")]
pub struct SecurityPage {
    /// Frame.
    pub chrome: Chrome,
    /// The reuse to explain, first page after signing in again.
    pub reuse: Option<HistoryRow>,
    /// Where the user was going when they signed in (offered after the explanation).
    pub continue_to: Option<String>,
    /// The events, newest first.
    pub events: Vec<HistoryRow>,
    /// Link to older events.
    pub next: Option<String>,
    /// Whether this is not the first page.
    pub paged: bool,
    /// How far back the history goes.
    pub days: i64,
}

/// What "confirm it's you" guards, and how the page offers it again.
pub struct PendingAction {
    /// Where the action's form posts.
    pub action: String,
    /// The button, in words ("Disable account").
    pub label: String,
    /// What it does, after "to" ("disable the account bob@example.com").
    pub purpose: String,
    /// Whether the button is a dangerous one.
    pub danger: bool,
}

/// `GET /confirm` (and `POST /confirm` after a wrong password or once confirmed).
#[derive(Template)]
#[template(path = "confirm.html")]
pub struct ConfirmPage {
    /// Frame.
    pub chrome: Chrome,
    /// Where to go (or post) once confirmed.
    pub next: String,
    /// The action waiting for the confirmation, if `next` is one.
    pub pending: Option<PendingAction>,
    /// Where "Cancel" goes.
    pub back: String,
    /// Whether the session has a fresh confirmation (then the action is offered at once).
    pub confirmed: bool,
    /// How long a confirmation lasts, in words ("10 minutes").
    pub lasts: String,
    /// What went wrong with the last attempt.
    pub error: Option<String>,
}
