main(_) ->
    Line = string:trim(io:get_line(""), trailing, "\n"),
    io:format("OK ~ts~n", [Line]).
