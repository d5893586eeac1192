let () = print_endline ("O" ^ "K")
