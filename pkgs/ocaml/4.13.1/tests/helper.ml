let word () = "OK"
