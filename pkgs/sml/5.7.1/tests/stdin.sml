val line = case TextIO.inputLine TextIO.stdIn of
               SOME s => String.substring (s, 0, size s - (if String.isSuffix "\n" s then 1 else 0))
             | NONE => "";
val () = print ("OK " ^ line ^ "\n");
