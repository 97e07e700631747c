//! One self-contained binary: SQLite and libpq are built into it (no shared library from a
//! `-dev` package), and its static files are embedded, so a copy of it anywhere serves
//! complete pages.

use crate::binary::BinApp;
use reqwest::StatusCode;

#[test]
fn the_binary_links_neither_libsqlite3_nor_libpq() {
    let out = std::process::Command::new("ldd")
        .arg(env!("CARGO_BIN_EXE_latchkey"))
        .output()
        .expect("ldd runs (Debian's libc-bin)");
    let libs = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "ldd failed: {libs}");
    for lib in ["libsqlite3.so", "libpq.so", "libssl.so", "libcrypto.so"] {
        assert!(!libs.contains(lib), "the binary links {lib}:\n{libs}");
    }
}

/// The `href`/`src` of the first tag in `page` that starts with `tag` and names `attr`.
fn link(page: &str, tag: &str, attr: &str) -> String {
    let at = page.find(tag).unwrap_or_else(|| panic!("{tag} in\n{page}"));
    let rest = &page[at..];
    let v = rest.find(&format!("{attr}=\"")).expect("attribute") + attr.len() + 2;
    rest[v..v + rest[v..].find('"').unwrap()].to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_copied_binary_serves_its_embedded_stylesheet_and_icon_with_long_cache_lifetimes() {
    // The binary alone, copied into an empty directory and started from another one.
    let install = tempfile::tempdir().unwrap();
    let bin = install.path().join("latchkey");
    std::fs::copy(env!("CARGO_BIN_EXE_latchkey"), &bin).unwrap();
    let work = tempfile::tempdir().unwrap();
    let app = BinApp::start_binary(&bin, work.path(), &[("LATCHKEY_COOKIE_SECURE", "false")]);
    let client = reqwest::Client::new();
    let page = client
        .get(format!("{}/login", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();

    let sources = concat!(env!("CARGO_MANIFEST_DIR"), "/static/");
    for (url, file, media) in [
        (
            link(&page, "<link rel=\"stylesheet\"", "href"),
            "style.css",
            "text/css; charset=utf-8",
        ),
        (
            link(&page, "<link rel=\"icon\"", "href"),
            "favicon.svg",
            "image/svg+xml",
        ),
    ] {
        // The page links a name that carries the content's hash …
        let (stem, ext) = file.split_once('.').unwrap();
        let hash = url
            .strip_prefix(&format!("/static/{stem}."))
            .and_then(|r| r.strip_suffix(&format!(".{ext}")))
            .unwrap_or_else(|| panic!("{url} carries no content hash"));
        assert!(
            hash.len() >= 8 && hash.bytes().all(|b| b.is_ascii_hexdigit()),
            "{url}"
        );
        // … served complete, cached for a year and never revalidated.
        let res = client
            .get(format!("{}{url}", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{url}");
        assert_eq!(res.headers()["content-type"], media);
        assert_eq!(
            res.headers()["cache-control"],
            "public, max-age=31536000, immutable"
        );
        let etag = res.headers()["etag"].to_str().unwrap().to_string();
        let body = res.bytes().await.unwrap();
        assert_eq!(
            body.as_ref(),
            std::fs::read(format!("{sources}{file}"))
                .unwrap()
                .as_slice()
        );

        // The plain name answers too, revalidated every time: a matching ETag is a bodiless 304.
        let plain = format!("{}/static/{file}", app.base);
        let res = client.get(&plain).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers()["cache-control"], "no-cache");
        let res = client
            .get(&plain)
            .header("if-none-match", &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::NOT_MODIFIED);
        assert!(res.bytes().await.unwrap().is_empty());
    }
    let res = client
        .get(format!("{}/static/nope.css", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let res = client
        .get(format!("{}/static/../Cargo.toml", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}
