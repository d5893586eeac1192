main(_) ->
    L = string:trim(io:get_line(""), trailing, "\n"),
    io:format("héllo ✓ ~ts ~p~n", [string:uppercase(L), string:length(L)]).
