#[derive(serde::Deserialize, chrononaut::Versioned)]
#[chrononaut(tabel = "accounts")]
struct Account {
    id: i32,
}

#[derive(serde::Deserialize, chrononaut::Versioned)]
struct Order {
    #[chrononaut(primary)]
    id: i32,
}

#[derive(serde::Deserialize, chrononaut::Versioned)]
#[chrononaut(key)]
struct Misplaced {
    #[chrononaut(table = "x")]
    id: i32,
}

fn main() {}
