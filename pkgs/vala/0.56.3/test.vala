void main () {
    var parts = new GLib.List<string> ();
    parts.append ("O");
    parts.append ("K");
    var s = new StringBuilder ();
    foreach (var p in parts)
        s.append (p);
    print ("%s\n", s.str);
}
