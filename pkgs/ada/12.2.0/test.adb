with Ada.Text_IO;

procedure Test is
begin
   Ada.Text_IO.Put_Line ("OK");
end Test;
