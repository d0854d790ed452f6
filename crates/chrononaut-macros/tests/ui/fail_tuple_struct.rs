#[derive(serde::Deserialize, chrononaut::Versioned)]
struct Account(i32, String);

#[derive(serde::Deserialize, chrononaut::Versioned)]
struct Marker;

fn main() {}
