//! Helpers shared by the benchmark binaries (`reads`, `verify`).
#![allow(dead_code)]

/// Result of a benchmark step.
pub type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// The integer after `name` on the command line (`--rows 1000`), or `default`.
pub fn arg(name: &str, default: i64) -> i64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
