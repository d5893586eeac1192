fun main() {
    println(Helper.word())
}
