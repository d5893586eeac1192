:- module(helper, [word/1]).

word('OK').
