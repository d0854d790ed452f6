use chrononaut::Versioned;

// Default table (snake_case of the name) and default key (`id`).
#[derive(serde::Deserialize, Versioned)]
#[allow(dead_code)]
struct AccountEntry {
    id: i64,
    owner: String,
    #[serde(default)]
    password_hash: Option<String>,
}

// Explicit table, composite key, a renamed key column, a raw identifier.
#[derive(serde::Deserialize, Versioned)]
#[chrononaut(table = "billing.order_lines")]
#[allow(dead_code)]
struct Line {
    #[chrononaut(key)]
    #[serde(rename = "order")]
    order_id: i32,
    #[chrononaut(key)]
    r#type: String,
    qty: i32,
}

// `id` is not the key when other fields are marked; generics are carried over.
#[derive(serde::Deserialize, Versioned)]
#[chrononaut(table = "tags")]
#[allow(dead_code)]
struct Tag<T> {
    id: i32,
    #[chrononaut(key)]
    name: String,
    payload: T,
}

fn main() {
    assert_eq!(<Tag<bool> as Versioned>::TABLE, "tags");
    assert_eq!(AccountEntry::TABLE, "account_entry");
    assert_eq!(AccountEntry::KEY_COLUMNS, ["id"]);
    let a = AccountEntry {
        id: 5,
        owner: "a".into(),
        password_hash: None,
    };
    assert_eq!(a.key().expect("key"), serde_json::json!({"id": 5}));

    assert_eq!(Line::TABLE, "billing.order_lines");
    assert_eq!(Line::KEY_COLUMNS, ["order", "type"]);
    let l = Line {
        order_id: 7,
        r#type: "x".into(),
        qty: 1,
    };
    assert_eq!(
        l.key().expect("key"),
        serde_json::json!({"order": 7, "type": "x"})
    );

    assert_eq!(<Tag<bool>>::KEY_COLUMNS, ["name"]);
    let t = Tag {
        id: 1,
        name: "n".into(),
        payload: true,
    };
    assert_eq!(t.key().expect("key"), serde_json::json!({"name": "n"}));
}
