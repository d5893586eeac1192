object Helper {
  def word: String = "OK"
}
