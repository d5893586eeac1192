-module(helper).
-export([word/0]).

word() -> "OK".
