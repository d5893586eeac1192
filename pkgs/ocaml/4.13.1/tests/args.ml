let () =
  let args = List.tl (Array.to_list Sys.argv) in
  print_endline (String.concat "|" args)
