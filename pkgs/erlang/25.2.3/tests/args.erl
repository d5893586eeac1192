-module(args).
-export([main/1]).

main(Args) ->
    io:format("~ts~n", [lists:join("|", Args)]).
