main(_) ->
    io:format("~s~n", ["O" ++ "K"]).
