program Echo;
var
  line: string;
begin
  readln(line);
  writeln('OK ', line);
end.
