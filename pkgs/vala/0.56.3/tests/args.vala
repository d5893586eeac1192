void main (string[] args) {
    print ("%s\n", string.joinv ("|", args[1:args.length]));
}
