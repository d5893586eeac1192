void main () {
    var line = stdin.read_line ();
    print ("OK %s\n", line);
}
