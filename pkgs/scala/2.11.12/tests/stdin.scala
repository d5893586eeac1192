object Echo {
  def main(args: Array[String]): Unit = println("OK " + scala.io.StdIn.readLine())
}
