//! Compile tests of `#[derive(Versioned)]`: what it accepts, and the errors it gives (each
//! pointing at the offending tokens). Regenerate the `.stderr` files with
//! `TRYBUILD=overwrite cargo test -p chrononaut-macros --test compile`, then review them.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass_*.rs");
    t.compile_fail("tests/ui/fail_*.rs");
}
