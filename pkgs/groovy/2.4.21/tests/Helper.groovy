class Helper {
    String word() { "OK" }
}
