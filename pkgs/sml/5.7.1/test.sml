fun greet () = print (String.implode [#"O", #"K"] ^ "\n");
val () = greet ();
