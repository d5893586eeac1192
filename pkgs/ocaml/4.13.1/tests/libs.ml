let () =
  let w = Str.global_replace (Str.regexp "x") "K" "Ox" in
  if Unix.getuid () >= 0 then print_endline w
