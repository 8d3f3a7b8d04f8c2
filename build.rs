//! Rebuild when a migration is added: `sqlx::migrate!` embeds the directory at compile time
//! but only tracks files that already existed.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
