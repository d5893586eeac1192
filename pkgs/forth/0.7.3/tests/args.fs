\ gforth's next-arg gives the program's arguments one by one (an empty string when none is left)
: join-args ( -- )
  next-arg dup 0= if 2drop exit then type
  begin next-arg dup while ." |" type repeat 2drop ;
join-args cr
