namespace Helper {
    public string word () {
        return "OK";
    }
}
