program Test;
begin
  writeln('O' + 'K');
end.
