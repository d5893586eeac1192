void main () {
    print ("%s\n", Helper.word ());
}
