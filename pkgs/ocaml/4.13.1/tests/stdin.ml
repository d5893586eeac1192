let () = print_endline ("OK " ^ read_line ())
