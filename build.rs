//! Re-embeds migrations, templates and static files when they change (without this a new
//! migration is silently left out), and writes the table of embedded static files.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=migrations");
    println!("cargo:rerun-if-changed=templates");
    println!("cargo:rerun-if-changed=askama.toml");
    println!("cargo:rerun-if-changed=static");
    if let Err(e) = write_assets() {
        panic!("embedding static/: {e}");
    }
}

/// Writes `$OUT_DIR/assets.rs`: one `Asset` per file in `static/`, its bytes included and its
/// content hash computed here, so serving and linking it costs nothing at run time.
fn write_assets() -> std::io::Result<()> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("static");
    let mut files: Vec<_> = std::fs::read_dir(&dir)?
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.path())
        .collect();
    files.sort();
    let mut out = String::from("&[\n");
    for path in files {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| std::io::Error::other("a file name that is not UTF-8"))?;
        let body = std::fs::read(&path)?;
        let hash = format!("{:016x}", fnv1a(&body));
        let hashed = match name.rsplit_once('.') {
            Some((stem, ext)) => format!("{stem}.{}.{ext}", &hash[..12]),
            None => format!("{name}.{}", &hash[..12]),
        };
        let _ = writeln!(
            out,
            "    Asset {{ name: {name:?}, hashed: {hashed:?}, url: {url:?}, etag: {etag:?}, content_type: {ct:?}, body: include_bytes!({path:?}) }},",
            url = format!("/static/{hashed}"),
            etag = format!("\"{hash}\""),
            ct = content_type(name),
            path = path.display().to_string(),
        );
    }
    out.push(']');
    let target =
        Path::new(&std::env::var("OUT_DIR").map_err(std::io::Error::other)?).join("assets.rs");
    std::fs::write(target, out)
}

/// 64-bit FNV-1a: the hash only has to change when the content does (it names a version for
/// caches; nothing trusts it), and it keeps the build free of a hashing crate.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit_once('.').map(|(_, ext)| ext) {
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("woff2") => "font/woff2",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}
