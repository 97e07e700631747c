//! One browser window and the steps a person takes in it: open a page, click, type, read the
//! page and its cookies, take a screenshot.

use fantoccini::{Client, Locator};
use std::path::Path;
use std::time::{Duration, Instant};

/// One browser window, with the steps a person takes.
pub struct Window {
    pub c: Client,
    pub(super) base: String,
    pub(super) viewport: Viewport,
}

/// The screen a browser window shows pages on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Viewport {
    /// 1280×800.
    Desktop,
    /// 390×844, emulated.
    Phone,
}

pub(super) const DESKTOP: (u32, u32) = (1280, 800);
pub(super) const PHONE: (u32, u32) = (390, 844);

impl Window {
    /// Types a URL path into the address bar.
    pub async fn open(&self, path: &str) {
        self.c
            .goto(&format!("{}{path}", self.base))
            .await
            .expect("page loads");
    }

    /// The current path and query, e.g. `/login?reason=expired&next=%2Faccount`.
    pub async fn path(&self) -> String {
        let url = self.c.current_url().await.expect("current url");
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        }
    }

    /// Waits until the current path starts with `prefix` (navigation after a click or submit).
    pub async fn wait_for_path(&self, prefix: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let path = self.path().await;
            if path.starts_with(prefix) {
                return path;
            }
            assert!(
                Instant::now() < deadline,
                "expected to reach {prefix}, still at {path}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The visible text of the page (retried while a navigation replaces the document).
    pub async fn text(&self) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let attempt = match self.c.find(Locator::Css("body")).await {
                Ok(body) => body.text().await,
                Err(e) => Err(e),
            };
            match attempt {
                Ok(text) => return text,
                Err(e) if Instant::now() > deadline => panic!("no page text: {e}"),
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// The visible text of the first element matching `css`, if any.
    pub async fn text_of(&self, css: &str) -> Option<String> {
        match self.c.find(Locator::Css(css)).await {
            Ok(el) => el.text().await.ok(),
            Err(_) => None,
        }
    }

    /// Clicks the element matching `css`.
    pub async fn click(&self, css: &str) {
        self.c
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css} on the page: {e}"))
            .click()
            .await
            .expect("click");
    }

    /// Clicks the link with this visible text.
    pub async fn click_link(&self, text: &str) {
        self.c
            .find(Locator::LinkText(text))
            .await
            .unwrap_or_else(|e| panic!("no link {text:?}: {e}"))
            .click()
            .await
            .expect("click");
    }

    /// Types into the field matching `css` (after clearing it).
    pub async fn fill(&self, css: &str, value: &str) {
        let field = self
            .c
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no field {css}: {e}"));
        field.clear().await.expect("clear");
        field.send_keys(value).await.expect("type");
    }

    /// Fills in the sign-up form on the current page and submits it.
    pub async fn register(&self, email: &str, password: &str) {
        self.open("/register").await;
        self.fill("#email", email).await;
        self.fill("#password", password).await;
        self.click("form[action='/register'] button[type=submit]")
            .await;
        self.wait_for_path("/account").await;
    }

    /// Fills in the sign-in form on the current page and submits it.
    pub async fn sign_in(&self, email: &str, password: &str) {
        self.fill("#email", email).await;
        self.fill("#password", password).await;
        self.click("form[action='/login'] button[type=submit]")
            .await;
    }

    /// The value of a cookie as the browser holds it (WebDriver sees HttpOnly cookies too).
    pub async fn cookie(&self, name: &str) -> Option<String> {
        self.c
            .get_all_cookies()
            .await
            .expect("cookies")
            .into_iter()
            .find(|c| c.name() == name)
            .map(|c| c.value().to_string())
    }

    /// Puts a cookie into this browser for the current site through WebDriver's Add Cookie,
    /// with the flags the server would have set.
    pub async fn plant_cookie(&self, name: &str, value: &str) {
        let cookie = serde_json::json!({ "cookie": {
            "name": name, "value": value, "path": "/",
            "secure": true, "httpOnly": true, "sameSite": "Lax",
        }});
        self.c
            .issue_cmd(AddCookie(cookie.to_string()))
            .await
            .expect("add cookie");
    }

    /// Saves a PNG of the viewport to `dir/name.png`.
    pub async fn screenshot(&self, dir: &Path, name: &str) {
        if self.viewport == Viewport::Desktop {
            // The window includes the browser's frame: size it so the viewport is 1280×800.
            let (width, height) = DESKTOP;
            self.c.set_window_size(width, height).await.expect("resize");
            let frame = self
                .c
                .execute(
                    "return [outerWidth - innerWidth, outerHeight - innerHeight];",
                    vec![],
                )
                .await
                .expect("measure the frame");
            let extra = |i: usize| frame[i].as_u64().unwrap_or(0) as u32;
            self.c
                .set_window_size(width + extra(0), height + extra(1))
                .await
                .expect("resize");
        }
        let png = self.c.screenshot().await.expect("screenshot");
        std::fs::create_dir_all(dir).expect("screenshot folder");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("write screenshot");
    }

    /// Ends this browser.
    pub async fn close(self) {
        let _ = self.c.close().await;
    }
}

/// WebDriver's Add Cookie with no `domain` at all: a host-only cookie, as `__Host-` requires
/// (fantoccini sends `"domain": null`, which chromedriver refuses).
#[derive(Debug)]
struct AddCookie(String);

impl fantoccini::wd::WebDriverCompatibleCommand for AddCookie {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/cookie", session.unwrap_or_default()))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(self.0.clone()))
    }
}
