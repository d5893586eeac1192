object Args extends App {
  println(args.mkString("|"))
}
