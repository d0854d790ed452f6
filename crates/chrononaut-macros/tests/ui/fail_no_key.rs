#[derive(serde::Deserialize, chrononaut::Versioned)]
struct Account {
    account_id: i32,
    owner: String,
}

fn main() {}
