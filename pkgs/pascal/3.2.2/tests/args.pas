program Args;
var
  i: integer;
begin
  for i := 1 to ParamCount do
  begin
    if i > 1 then write('|');
    write(ParamStr(i));
  end;
  writeln;
end.
