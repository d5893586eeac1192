create buf 256 allot
buf 256 stdin read-line throw drop
buf swap ." OK " type cr
