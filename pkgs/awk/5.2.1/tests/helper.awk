function word() { return "OK" }
