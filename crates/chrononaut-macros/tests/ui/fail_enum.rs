#[derive(serde::Deserialize, chrononaut::Versioned)]
enum Status {
    Open,
    Closed,
}

fn main() {}
