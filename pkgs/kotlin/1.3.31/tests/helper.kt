object Helper {
    fun word() = "OK"
}
