BEGIN {
    s = ARGV[1]
    for (i = 2; i < ARGC; i++) s = s "|" ARGV[i]
    print s
}
