fun main() {
    val line = readLine() ?: ""
    println("OK $line")
}
