pub fn word() -> &'static str {
    "OK"
}
