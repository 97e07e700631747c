//! Re-embeds migrations when they change; without this a new migration is silently left out.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
    println!("cargo:rerun-if-changed=templates");
    println!("cargo:rerun-if-changed=askama.toml");
}
