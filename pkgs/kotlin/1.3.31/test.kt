fun main() {
    println("O" + "K")
}
