class Helper {
    public String toString() {
        return "OK";
    }
}
