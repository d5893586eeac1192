use "helper.sml";
val () = print (Helper.word ^ "\n");
