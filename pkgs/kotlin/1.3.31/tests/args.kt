fun main(args: Array<String>) {
    println(args.joinToString("|"))
}
