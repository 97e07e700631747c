//! Dependencies stay above the versions SECURITY.md names as fixed: read from Cargo.lock, so a
//! `cargo update` or a downgrade that slips below one fails the build.

/// `(crate, first fixed version, why)`.
const FLOORS: &[(&str, (u64, u64, u64), &str)] = &[
    (
        "jsonwebtoken",
        (10, 3, 0),
        "string exp/nbf bypassed validation (CVE-2026-25537)",
    ),
    ("bcrypt", (0, 19, 2), "panicked on a non-ASCII stored hash"),
    ("actix-http", (3, 12, 1), "request-smuggling framing"),
];

fn locked_versions(lock: &str, name: &str) -> Vec<(u64, u64, u64)> {
    lock.split("[[package]]")
        .filter(|block| {
            block
                .lines()
                .any(|l| l.trim() == format!("name = \"{name}\""))
        })
        .filter_map(|block| {
            let v = block
                .lines()
                .find_map(|l| l.trim().strip_prefix("version = \""))?;
            let mut parts = v
                .trim_end_matches('"')
                .split(['.', '-', '+'])
                .map(|p| p.parse::<u64>());
            Some((
                parts.next()?.ok()?,
                parts.next()?.ok()?,
                parts.next()?.ok()?,
            ))
        })
        .collect()
}

#[test]
fn locked_dependencies_are_at_or_above_the_fixed_versions() {
    let lock = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.lock"))
        .expect("Cargo.lock is committed");
    for (name, floor, why) in FLOORS {
        let found = locked_versions(&lock, name);
        assert!(
            !found.is_empty(),
            "{name} is no longer in Cargo.lock: update this test"
        );
        for v in found {
            assert!(v >= *floor, "{name} {v:?} is below {floor:?}: {why}");
        }
    }
}

#[test]
fn the_version_reader_sees_a_downgrade() {
    let lock = "[[package]]\nname = \"bcrypt\"\nversion = \"0.19.1\"\n\n[[package]]\nname = \"bcrypt-pbkdf\"\nversion = \"0.1.0\"\n";
    assert_eq!(locked_versions(lock, "bcrypt"), vec![(0, 19, 1)]);
}
