program Main;
uses Helper;
begin
  writeln(Word);
end.
