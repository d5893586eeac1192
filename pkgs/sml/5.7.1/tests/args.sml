val () = print (String.concatWith "|" (CommandLine.arguments ()) ^ "\n");
