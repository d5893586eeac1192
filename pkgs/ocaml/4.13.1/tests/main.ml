let () = print_endline (Helper.word ())
