#[derive(serde::Deserialize, chrononaut::Versioned)]
#[chrononaut(table = 5)]
struct Account {
    id: i32,
}

#[derive(serde::Deserialize, chrononaut::Versioned)]
#[chrononaut(table = accounts)]
struct Other {
    id: i32,
}

#[derive(serde::Deserialize, chrononaut::Versioned)]
#[chrononaut(table = "")]
struct Empty {
    id: i32,
}

fn main() {}
